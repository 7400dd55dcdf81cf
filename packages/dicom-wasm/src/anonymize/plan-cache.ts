// The plans of previous calls, replayed when a new file has the same layout.
//
// Every volume of a real-time series has the same element layout; only some values differ (UIDs,
// times, the CSA image header's values). The full path's output is a list of input ranges and
// encoded pieces whose shape follows from the row table (tags, VRs, offsets, lengths, nesting) and
// from a few values: private creators, whether a UID is DICOM-defined, the replaced UIDs and the
// filtered CSA header. The plan keeps that list and those values; a call whose row table is
// identical word for word re-checks the values (creators and DICOM-defined tests byte for byte,
// UIDs and the CSA header re-derived) and swaps in the re-derived pieces. Anything that would
// change the shape (another row table, a creator's bytes, a UID that now maps to a longer or no
// replacement, a CSA header of another filtered length) drops the plan and takes the full path.

import { CsaParseError } from '../csa.js';
import type { DicomDataset } from '../dataset.js';
import { NodeBuf, ownCopy } from '../node-buffer.js';
import { R_LEN, R_TAG, R_VAL, ROW_WORDS } from '../wasm.js';
import { encodeHeader, encodeItemHeader } from '../writer.js';
import { EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_BE, IMPLICIT_LE, isDicomDefinedUid, type Ctx, type Enc } from './context.js';
import { csaPendingState, filterCsa, restoreCsaPending, type Out } from './out.js';
import type { AnonymizationProfile } from './profile.js';
import { mappedUidElement } from './uid-elements.js';
import type { UidMap } from './uid-map.js';

export interface PlanRec {
  /** row, copy of the creator's value bytes */
  creators: (number | Uint8Array)[];
  /** row, 1 if the value was a DICOM-defined UID (kept) else 0 */
  defined: number[];
  /**
   * row, encoding and rule bits (as UidEntry.kind), output piece index or -1 (unchanged), index
   * in `chains` of the defined-length items and sequences around it or -1
   */
  uids: number[];
  /** each UID row's value bytes when its piece was last derived, and views of them */
  uidBytes: Uint8Array[];
  uidViews: DataView[];
  chains: number[][];
  /**
   * Headers of the defined-length items and sequences in the output, by id: a replaced UID of
   * another length (2.25 UIDs have 37 to 39 digits) changes their lengths and nothing else.
   * Null while open or when the item or sequence turned out unchanged.
   */
  hdrs: (LengthHeader | null)[];
  /** ids of the headers open during the full path's walk */
  open: number[];
  /** row, output piece index of the filtered bytes, filtered length */
  csa: number[];
  /** row, copy of the value bytes a piece was derived from (shifted dates): replayed only for the same bytes */
  values: (number | Uint8Array)[];
  /** false when the full path took a branch the replay does not reproduce */
  replayable: boolean;
}

interface LengthHeader {
  piece: number;
  /** -1 for an item */
  tag: number;
  vr: string;
  enc: Enc;
  length: number;
}

export function pushUidBytes(rec: PlanRec, bytes: Uint8Array, start: number, len: number): void {
  const copy = ownCopy(bytes, start, start + len);
  rec.uidBytes.push(copy);
  rec.uidViews.push(new DataView(copy.buffer));
}

export function openHeader(rec: PlanRec): number {
  const id = rec.hdrs.length;
  rec.hdrs.push(null);
  rec.open.push(id);
  return id;
}

export interface Plan {
  rows: Uint32Array;
  length: number;
  dataSetOffset: number;
  ts: string;
  explicit: boolean;
  littleEndian: boolean;
  profile: AnonymizationProfile;
  uids: UidMap;
  keepKey: string;
  dateShiftDays: number;
  out: Out;
  dataLength: number;
  rec: PlanRec;
}

/**
 * The last few plans, most recently used last: a worker that takes the volumes of several series
 * in turn keeps one plan per layout.
 */
const plans: Plan[] = [];
const MAX_PLANS = 8;
let planCacheEnabled = true;
const planStats = { full: 0, replayed: 0 };

/**
 * Turns the replay of previous calls' plans on or off (default on; off bypasses the plans, which
 * stay for when it is turned on again)
 * and returns how many calls took the full path and how many replayed a plan since the last call
 * of this function. Off is for comparisons (tests, benchmarks); the output is the same either way.
 */
export function setAnonymizePlanCache(enabled: boolean): { full: number; replayed: number } {
  planCacheEnabled = enabled;
  const s = { ...planStats };
  planStats.full = 0;
  planStats.replayed = 0;
  return s;
}

function planMatches(p: Plan, ds: DicomDataset, profile: AnonymizationProfile, uids: UidMap, keepKey: string, enc: Enc, dateShiftDays: number): boolean {
  if (p.profile !== profile || p.uids !== uids || p.keepKey !== keepKey || p.dateShiftDays !== dateShiftDays) return false;
  if (p.length !== ds.bytes.length || p.dataSetOffset !== ds.dataSetOffset || p.ts !== ds.transferSyntaxUID) return false;
  if (p.explicit !== enc.explicit || p.littleEndian !== enc.littleEndian) return false;
  const a = p.rows;
  const b = ds._s.rows;
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return sameWords(a, b);
}

/** Equal arrays of the same length: a native memcmp in Node (~6 KB per mosaic), a loop elsewhere. */
function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  if (NodeBuf) return NodeBuf.from(a.buffer, a.byteOffset, a.byteLength).equals(NodeBuf.from(b.buffer, b.byteOffset, b.byteLength));
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const ENCS: Enc[] = [];
/** Re-derives the value-dependent pieces of `p` for ctx's bytes; false = the full path must run. */
function replay(p: Plan, ctx: Ctx, rows: Uint32Array): boolean {
  const { bytes } = ctx;
  const rec = p.rec;
  const out = p.out;
  const cr = rec.creators;
  for (let i = 0; i < cr.length; i += 2) {
    const ro = (cr[i] as number) * ROW_WORDS;
    const old = cr[i + 1] as Uint8Array;
    const v = rows[ro + R_VAL];
    for (let j = 0; j < old.length; j++) if (bytes[v + j] !== old[j]) return false;
  }
  const vs = rec.values;
  for (let i = 0; i < vs.length; i += 2) {
    const ro = (vs[i] as number) * ROW_WORDS;
    const old = vs[i + 1] as Uint8Array;
    const v = rows[ro + R_VAL];
    for (let j = 0; j < old.length; j++) if (bytes[v + j] !== old[j]) return false;
  }
  const df = rec.defined;
  for (let i = 0; i < df.length; i += 2) {
    const ro = df[i] * ROW_WORDS;
    if ((isDicomDefinedUid(bytes, rows[ro + R_VAL], rows[ro + R_LEN]) ? 1 : 0) !== df[i + 1]) return false;
  }
  if (ENCS.length === 0) ENCS.push(IMPLICIT_BE, EXPLICIT_BE, IMPLICIT_LE, EXPLICIT_LE);
  const us = rec.uids;
  let delta = 0;
  let resized = false;
  for (let i = 0; i < us.length; i += 4) {
    const ro = us[i] * ROW_WORDS;
    const kind = us[i + 1];
    const piece = us[i + 2];
    const v = rows[ro + R_VAL];
    const old = rec.uidBytes[i >> 2];
    const ov = rec.uidViews[i >> 2];
    const view = ctx.view;
    const n4 = old.length & ~3;
    let j = 0;
    // four bytes at a time, then the tail
    while (j < n4 && view.getInt32(v + j, true) === ov.getInt32(j, true)) j += 4;
    if (j === n4) while (j < old.length && bytes[v + j] === old[j]) j++;
    // the same bytes as when the piece was derived (most UIDs of a run): the piece stands
    if (j === old.length) continue;
    const element = mappedUidElement(ctx, rows[ro + R_TAG], ENCS[kind & 3], v, rows[ro + R_LEN], (kind & 4) !== 0);
    old.set(bytes.subarray(v, v + old.length));
    if (piece < 0) {
      if (element !== null) return false;
      continue;
    }
    if (element === null || out.arr[piece] === null) return false;
    const d = element.length - out.b[piece];
    if (d !== 0) {
      const chain = us[i + 3];
      if (chain >= 0) {
        for (const id of rec.chains[chain]) {
          const h = rec.hdrs[id];
          if (!h) return false;
          h.length += d;
          out.arr[h.piece] = null; // re-encoded below; null marks it (a header is never a range here)
        }
      }
      delta += d;
      resized = true;
      out.b[piece] = element.length;
    }
    out.arr[piece] = element;
  }
  if (resized) {
    for (const h of rec.hdrs) {
      if (!h || out.arr[h.piece] !== null) continue;
      const x = h.tag < 0 ? encodeItemHeader(h.length, h.enc.littleEndian) : encodeHeader(h.tag, h.vr, h.length, h.enc);
      if (x.length !== out.b[h.piece]) return false;
      out.arr[h.piece] = x;
    }
    p.dataLength += delta;
  }
  const cs = rec.csa;
  for (let i = 0; i < cs.length; i += 3) {
    const ro = cs[i] * ROW_WORDS;
    const piece = cs[i + 1];
    const v = rows[ro + R_VAL];
    let filtered: Uint8Array;
    try {
      filtered = filterCsa(bytes.subarray(v, v + rows[ro + R_LEN]), ctx.compiled.csaKeep);
    } catch (e) {
      if (!(e instanceof CsaParseError)) throw e;
      return false;
    }
    if (filtered.length !== cs[i + 2] || out.arr[piece] === null) return false;
    out.arr[piece] = filtered;
  }
  return true;
}

/** True unless setAnonymizePlanCache turned the replay off. */
export function planCacheOn(): boolean {
  return planCacheEnabled;
}

/** An empty record for a full path whose output may become a plan. */
export function newPlanRec(): PlanRec {
  return { creators: [], defined: [], uids: [], uidBytes: [], uidViews: [], chains: [], hdrs: [], open: [], csa: [], values: [], replayable: true };
}

/**
 * A plan of a previous call that matches `ds` and these options, replayed for ctx's bytes (its
 * pieces now hold this file's values), or null: the full path must run.
 */
export function replayedPlan(ds: DicomDataset, ctx: Ctx, enc: Enc, keepKey: string): Plan | null {
  const { profile, uids } = ctx;
  let found = -1;
  for (let i = plans.length - 1; i >= 0 && found < 0; i--) if (planMatches(plans[i], ds, profile, uids, keepKey, enc, ctx.dateShiftDays)) found = i;
  if (found < 0) return null;
  const entryPending = csaPendingState();
  // out of the list until the replay has re-derived every value-dependent piece
  const plan = plans.splice(found, 1)[0];
  if (replay(plan, ctx, ds._s.rows)) {
    plans.push(plan);
    planStats.replayed++;
    return plan;
  }
  restoreCsaPending(entryPending);
  return null;
}

/** Counts a call that took the full path and keeps its plan, if it made one the replay can use. */
export function fullPathTaken(plan: Plan | null): void {
  planStats.full++;
  if (plan && plan.rec.replayable) {
    if (plans.length >= MAX_PLANS) plans.shift();
    plans.push(plan);
  }
}
