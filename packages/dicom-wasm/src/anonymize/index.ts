// Anonymization that returns new Part-10 bytes. The WebAssembly walk (parseDicom) gives every
// element's offsets; the WebAssembly rewrite (src/core/anonymize.c, driven by core.ts) applies the
// profile to every element in one pass and describes the output as pieces: ranges of the input
// plus the few elements it re-encoded. The result is assembled from them with one copy, so the
// pixel data moves with one `set()` and every element the profile does not touch stays
// byte-identical. Defined lengths of sequences and items that contain a change are recomputed;
// undefined-length ones keep their delimiters.
//
// The modules beside this one: profile.ts (the table, as data), compile.ts (its lookups and the
// blob the pass reads), core.ts (the pass's JavaScript side), uid-map.ts (session-consistent
// UIDs; the pass computes the same replacements), meta.ts (the rebuilt meta group).

import { deflateSync } from 'fflate';
import { parseDicom, type DicomDataset } from '../dataset.js';
import { uninitialized } from '../node-buffer.js';
import { DicomParseError } from '../errors.js';
import { DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, syntaxOf } from '../transfer-syntax.js';
import { compile, tagOfKey } from './compile.js';
import { rewriteInCore } from './core.js';
import { metaGroup } from './meta.js';
import { DEFAULT_PROFILE, type AnonymizationProfile } from './profile.js';
import { assertUidMap, dateShiftOf, defaultUidMap, type UidMap } from './uid-map.js';

function shiftOf(days: number): number {
  if (!Number.isInteger(days) || Math.abs(days) > 365_000) throw new RangeError(`dateShiftDays must be an integer number of days, got ${days}`);
  return days;
}

export interface AnonymizeOptions {
  /** Attributes to keep untouched (keywords or tags), overriding the profile. */
  keep?: (string | number)[];
  profile?: AnonymizationProfile;
  /**
   * UID map made by createUidMap({ secret }) (TypeError otherwise): UID replacements and the Modified Dates shift derive from
   * its secret, so a site that keeps its secret maps alike in every process and after restarts.
   * Default: one per process (per uidRoot), with a random secret.
   */
  uidMap?: UidMap;
  /** Days to shift dates back under the Modified Dates option (default: the UID map's dateShiftDays). */
  dateShiftDays?: number;
  /** Root for replacement UIDs when no uidMap is given (default 2.25). */
  uidRoot?: string;
  /**
   * Write the result into this buffer when it is large enough (the return value is then a view of
   * it), saving the allocation: a fresh 300-450 KB buffer can cost more than the whole rewrite.
   */
  output?: Uint8Array;
}

/**
 * Anonymizes Part-10 bytes (or a bare data set) with the profile (default: DEFAULT_PROFILE) and
 * returns new Part-10 bytes in the same transfer syntax. The input is not modified. Throws
 * DicomParseError for input that does not parse.
 */
export function anonymize(bytes: Uint8Array, options: AnonymizeOptions = {}): Uint8Array {
  // a bad option is a RangeError or TypeError, not a parse error
  if (options.dateShiftDays !== undefined) shiftOf(options.dateShiftDays);
  if (options.uidMap !== undefined) assertUidMap(options.uidMap);
  const ds = parseDicom(bytes);
  try {
    return anonymizeParsed(ds, options);
  } catch (e) {
    if (e instanceof DicomParseError) throw e;
    const err = new DicomParseError('cannot anonymize', 0, String((e as Error)?.message ?? e));
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}

/** As `anonymize`, for a data set parsed already (its bytes must be unchanged). */
export function anonymizeParsed(ds: DicomDataset, options: AnonymizeOptions = {}): Uint8Array {
  const profile = options.profile ?? DEFAULT_PROFILE;
  const keep = new Set<number>((options.keep ?? []).map(tagOfKey));
  const uids = options.uidMap ?? defaultUidMap(options.uidRoot);
  assertUidMap(uids);
  const compiled = compile(profile);
  const dateShiftDays = shiftOf(options.dateShiftDays ?? uids.dateShiftDays ?? dateShiftOf(uids.secret));
  const keepKey = keep.size === 0 ? '' : [...keep].sort((a, b) => a - b).join(',');
  const rows = ds._s.rows;
  const ts = outputSyntax(ds);
  // the meta group (its UID is mapped by uid-map.ts, as the pass maps the data set's)
  const metaBytes = metaGroup(ds.bytes, rows, ts, { uids, profile, keep, compiled }, keepKey);
  const pieces = rewriteInCore(ds.bytes, rows, ds.dataSetOffset, { explicit: ds.explicitVR, littleEndian: ds.littleEndian }, profile, compiled, keep, keepKey, uids, dateShiftDays);
  const src = ds.bytes;
  if (ts === DEFLATED_EXPLICIT_VR_LE) {
    const plain = new Uint8Array(pieces.length);
    pieces.copy(src, plain, 0);
    const data = deflateSync(plain, { level: 6 });
    const out = part10Head(metaBytes, data.length, options.output);
    out.set(data, 132 + metaBytes.length);
    return out;
  }
  const out = part10Head(metaBytes, pieces.length, options.output);
  pieces.copy(src, out, 132 + metaBytes.length);
  return out;
}

/**
 * The transfer syntax of the output: the input's, unless it does not describe the data set as
 * read (a native syntax that says explicit VR over an implicit data set, a value that is not a
 * UID): then the one of the encoding the parser found, so the output describes itself.
 */
function outputSyntax(ds: DicomDataset): string {
  const ts = ds.transferSyntaxUID;
  if (ts.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(ts)) {
    const s = syntaxOf(ts);
    if (s.explicit === ds.explicitVR && s.bigEndian === !ds.littleEndian) return ts;
    // a compressed syntax says how the pixel data is encoded too: kept (readers, this one
    // included, tell an implicit data set from its first element, as they did for the input)
    if (ts !== IMPLICIT_VR_LE && ts !== EXPLICIT_VR_LE && ts !== EXPLICIT_VR_BE && ts !== DEFLATED_EXPLICIT_VR_LE) return ts;
  }
  return !ds.explicitVR ? IMPLICIT_VR_LE : ds.littleEndian ? EXPLICIT_VR_LE : EXPLICIT_VR_BE;
}

/**
 * The result buffer (`output` when it is large enough) with its zeroed preamble, 'DICM' and the
 * meta group written; the data set (`dataLength` bytes) goes after them, and the caller writes
 * every one of those bytes (the buffer is not zeroed).
 */
function part10Head(metaBytes: Uint8Array, dataLength: number, output: Uint8Array | undefined): Uint8Array {
  const total = 132 + metaBytes.length + dataLength;
  const out = output && output.length >= total ? output.subarray(0, total) : uninitialized(total);
  out.fill(0, 0, 128);
  out.set([0x44, 0x49, 0x43, 0x4d], 128);
  out.set(metaBytes, 132);
  return out;
}
