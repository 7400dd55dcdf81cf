// Anonymization that returns new Part-10 bytes. The WebAssembly walk (parseDicom) gives every
// element's offsets; the output is then assembled from views of the untouched byte ranges plus a
// few re-encoded elements, so the pixel data moves with one `set()` and every element the profile
// does not touch stays byte-identical. Defined lengths of sequences and items that contain a
// change are recomputed; undefined-length ones keep their delimiters.
//
// The modules beside this one: profile.ts (the table, as data), compile.ts (its lookups),
// uid-map.ts (session-consistent UIDs), uid-elements.ts (replaced UID elements, cached),
// rewrite.ts (the full path over the walk's row table), out.ts (the output's piece list),
// plan-cache.ts (the replay of previous calls' plans), meta.ts (the rebuilt meta group).

import { deflateSync } from 'fflate';
import { parseDicom, type DicomDataset } from '../dataset.js';
import { DicomParseError } from '../errors.js';
import { DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, syntaxOf } from '../transfer-syntax.js';
import { ROW_WORDS } from '../wasm.js';
import { compile, tagOfKey } from './compile.js';
import type { Ctx, Enc, Walk } from './context.js';
import { metaGroup } from './meta.js';
import { csaPendingState, Out, restoreCsaPending } from './out.js';
import { fullPathTaken, newPlanRec, planCacheOn, replayedPlan } from './plan-cache.js';
import { DEFAULT_PROFILE, type AnonymizationProfile } from './profile.js';
import { rewriteRows } from './rewrite.js';
import { uidCacheOf } from './uid-elements.js';
import { dateShiftOf, defaultUidMap, type UidMap } from './uid-map.js';

function shiftOf(days: number): number {
  if (!Number.isInteger(days) || Math.abs(days) > 365_000) throw new RangeError(`dateShiftDays must be an integer number of days, got ${days}`);
  return days;
}

export interface AnonymizeOptions {
  /** Attributes to keep untouched (keywords or tags), overriding the profile. */
  keep?: (string | number)[];
  profile?: AnonymizationProfile;
  /**
   * UID map (createUidMap({ secret })): UID replacements and the Modified Dates shift derive from
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
  if (options.dateShiftDays !== undefined) shiftOf(options.dateShiftDays); // a bad option is a RangeError, not a parse error
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
  const pending = csaPendingState();
  try {
    return rewrite(ds, options);
  } finally {
    restoreCsaPending(pending);
  }
}

function rewrite(ds: DicomDataset, options: AnonymizeOptions): Uint8Array {
  const profile = options.profile ?? DEFAULT_PROFILE;
  const keep = new Set<number>((options.keep ?? []).map(tagOfKey));
  const uids = options.uidMap ?? defaultUidMap(options.uidRoot);
  const ctx: Ctx = {
    bytes: ds.bytes,
    view: new DataView(ds.bytes.buffer, ds.bytes.byteOffset, ds.bytes.byteLength),
    uidCache: uidCacheOf(uids),
    profile,
    compiled: compile(profile),
    keep,
    uids,
    rec: null,
    dateShiftDays: shiftOf(options.dateShiftDays ?? uids.dateShiftDays ?? dateShiftOf(uids.secret)),
  };
  const src = ds.bytes;
  const start = ds.dataSetOffset;
  const w: Walk = { rows: ds._s.rows };
  const enc: Enc = { explicit: ds.explicitVR, littleEndian: ds.littleEndian };
  const ts = outputSyntax(ds);
  const keepKey = keep.size === 0 ? '' : [...keep].join(',');
  const cacheable = planCacheOn() && ts !== DEFLATED_EXPLICIT_VR_LE;
  let o: Out;
  let dataLength: number;
  let verify = false;
  const plan = cacheable ? replayedPlan(ds, ctx, enc, keepKey) : null;
  if (plan) {
    o = plan.out;
    dataLength = plan.dataLength;
  } else {
    verify = true;
    o = new Out();
    const rec = cacheable ? newPlanRec() : null;
    ctx.rec = rec;
    if (!rewriteRows(ctx, w, 0, w.rows.length / ROW_WORDS, start, src.length, true, enc, o)) o.range(start, src.length);
    ctx.rec = null;
    dataLength = o.size(0);
    fullPathTaken(rec && { rows: w.rows, length: src.length, dataSetOffset: start, ts, explicit: enc.explicit, littleEndian: enc.littleEndian, profile, uids, keepKey, dateShiftDays: ctx.dateShiftDays, out: o, dataLength, rec });
  }

  // the few meta and identity values needed, read from the top-level rows (no index, no decoding)
  const metaBytes = metaGroup(ctx, w.rows, ts, keepKey, planCacheOn());

  if (ts === DEFLATED_EXPLICIT_VR_LE) {
    const plain = new Uint8Array(dataLength);
    o.copy(src, plain, 0);
    const data = deflateSync(plain, { level: 6 });
    const out = part10Head(metaBytes, data.length, options.output);
    out.set(data, 132 + metaBytes.length);
    return verified(out, dataLength);
  }
  const out = part10Head(metaBytes, dataLength, options.output);
  o.copy(src, out, 132 + metaBytes.length);
  return verify ? verified(out, 0) : out;
}

/**
 * The full path's output is parsed again before it is returned: an input that parses must give
 * an output that parses, or a DicomParseError (never bytes nobody can read). A replayed plan has
 * the layout of an output checked here (only UID, date and CSA values and lengths are re-derived).
 */
function verified(out: Uint8Array, inflatedLength: number): Uint8Array {
  try {
    // a deflated output inflates to the data set just written: no more
    parseDicom(out, inflatedLength > 0 ? { maxInflatedBytes: inflatedLength + 1024 } : {});
  } catch (e) {
    if (!(e instanceof DicomParseError)) throw e;
    throw new DicomParseError('cannot anonymize', 0, `anonymized output does not re-parse: ${e.message}`);
  }
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
 * meta group written; the data set (`dataLength` bytes) goes after them.
 */
function part10Head(metaBytes: Uint8Array, dataLength: number, output: Uint8Array | undefined): Uint8Array {
  const total = 132 + metaBytes.length + dataLength;
  const out = output && output.length >= total ? output.subarray(0, total) : new Uint8Array(total);
  out.fill(0, 0, 128);
  out.set([0x44, 0x49, 0x43, 0x4d], 128);
  out.set(metaBytes, 132);
  return out;
}
