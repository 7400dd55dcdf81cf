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
import { DEFLATED_EXPLICIT_VR_LE } from '../transfer-syntax.js';
import { ROW_WORDS } from '../wasm.js';
import { compile, tagOfKey } from './compile.js';
import type { Ctx, Enc, Walk } from './context.js';
import { metaGroup } from './meta.js';
import { csaPendingState, Out, restoreCsaPending } from './out.js';
import { fullPathTaken, newPlanRec, planCacheOn, replayedPlan } from './plan-cache.js';
import { DEFAULT_PROFILE, type AnonymizationProfile } from './profile.js';
import { rewriteRows } from './rewrite.js';
import { uidCacheOf } from './uid-elements.js';
import { defaultUidMap, type UidMap } from './uid-map.js';

export interface AnonymizeOptions {
  /** Attributes to keep untouched (keywords or tags), overriding the profile. */
  keep?: (string | number)[];
  profile?: AnonymizationProfile;
  /** Session UID map; default: one per process (per uidRoot). */
  uidMap?: UidMap;
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
  };
  const src = ds.bytes;
  const start = ds.dataSetOffset;
  const w: Walk = { rows: ds._s.rows };
  const enc: Enc = { explicit: ds.explicitVR, littleEndian: ds.littleEndian };
  const ts = ds.transferSyntaxUID;
  const keepKey = keep.size === 0 ? '' : [...keep].join(',');
  const cacheable = planCacheOn() && ts !== DEFLATED_EXPLICIT_VR_LE;
  let o: Out;
  let dataLength: number;
  const plan = cacheable ? replayedPlan(ds, ctx, enc, keepKey) : null;
  if (plan) {
    o = plan.out;
    dataLength = plan.dataLength;
  } else {
    o = new Out();
    const rec = cacheable ? newPlanRec() : null;
    ctx.rec = rec;
    if (!rewriteRows(ctx, w, 0, w.rows.length / ROW_WORDS, start, src.length, true, enc, o)) o.range(start, src.length);
    ctx.rec = null;
    dataLength = o.size(0);
    fullPathTaken(rec && { rows: w.rows, length: src.length, dataSetOffset: start, ts, explicit: enc.explicit, littleEndian: enc.littleEndian, profile, uids, keepKey, out: o, dataLength, rec });
  }

  // the few meta and identity values needed, read from the top-level rows (no index, no decoding)
  const metaBytes = metaGroup(ctx, w.rows, ts, keepKey, planCacheOn());

  if (ts === DEFLATED_EXPLICIT_VR_LE) {
    const plain = new Uint8Array(dataLength);
    o.copy(src, plain, 0);
    const data = deflateSync(plain, { level: 6 });
    const out = part10Head(metaBytes, data.length, options.output);
    out.set(data, 132 + metaBytes.length);
    return out;
  }
  const out = part10Head(metaBytes, dataLength, options.output);
  o.copy(src, out, 132 + metaBytes.length);
  return out;
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
