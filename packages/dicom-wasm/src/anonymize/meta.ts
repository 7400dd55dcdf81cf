// The rebuilt meta group (group 0002): version, SOP class, the replaced SOP instance UID, transfer
// syntax and our implementation UID; the old meta's other elements are dropped.

import { ownCopy } from '../node-buffer.js';
import { R_LEN, R_NEXT, R_TAG, R_VAL, ROW_WORDS, UNDEF } from '../wasm.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, writeElementBytes } from '../writer.js';
import type { Compiled } from './compile.js';
import { asciiValue, EXPLICIT_LE } from './context.js';
import type { AnonymizationProfile } from './profile.js';
import type { UidMap } from './uid-map.js';

const metaPartCache = new Map<string, Uint8Array>();
function metaPart(key: string, make: () => Uint8Array): Uint8Array {
  let b = metaPartCache.get(key);
  if (!b) {
    if (metaPartCache.size > 1000) metaPartCache.clear();
    metaPartCache.set(key, (b = make()));
  }
  return b;
}

/**
 * The rebuilt meta group (what buildFileMeta writes), from cached pieces: only the SOP instance
 * UID differs from file to file.
 */
function fileMeta(ts: string, version: Uint8Array | undefined, cls: string | undefined, inst: string | undefined): Uint8Array {
  const parts: Uint8Array[] = [];
  const v = version && version.length === 2 ? `${version[0]},${version[1]}` : 'none';
  parts.push(metaPart(`v${v}`, () => (version ? writeElementBytes({ tag: 0x00020001, vr: 'OB', value: ownCopy(version) }, EXPLICIT_LE) : new Uint8Array(0))));
  if (cls !== undefined) parts.push(metaPart(`c${cls}`, () => writeElementBytes({ tag: 0x00020002, vr: 'UI', value: cls }, EXPLICIT_LE)));
  if (inst !== undefined) parts.push(writeElementBytes({ tag: 0x00020003, vr: 'UI', value: inst }, EXPLICIT_LE));
  parts.push(
    metaPart(`t${ts}`, () => {
      const a = writeElementBytes({ tag: 0x00020010, vr: 'UI', value: ts }, EXPLICIT_LE);
      const b = writeElementBytes({ tag: 0x00020012, vr: 'UI', value: IMPLEMENTATION_CLASS_UID }, EXPLICIT_LE);
      const c = writeElementBytes({ tag: 0x00020013, vr: 'SH', value: IMPLEMENTATION_VERSION_NAME }, EXPLICIT_LE);
      const t = new Uint8Array(a.length + b.length + c.length);
      t.set(a);
      t.set(b, a.length);
      t.set(c, a.length + b.length);
      return t;
    }),
  );
  let body = 0;
  for (const p of parts) body += p.length;
  const out = new Uint8Array(12 + body);
  out.set([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00]);
  out[8] = body & 0xff;
  out[9] = (body >>> 8) & 0xff;
  out[10] = (body >>> 16) & 0xff;
  out[11] = (body >>> 24) & 0xff;
  let o = 12;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const metaVals = new Int32Array(10);
let metaMemo: { ts: string; uids: UidMap; profile: AnonymizationProfile; keepKey: string; key: Int32Array; bytes: Uint8Array } | null = null;

/**
 * The meta group for the data set in `rows` (its top-level rows; the data set's SOP class and
 * instance win over the old meta's). The previous call's bytes are reused when made from the same
 * source values and options.
 */
export function metaGroup(
  src: Uint8Array,
  rows: Uint32Array,
  ts: string,
  opts: { uids: UidMap; profile: AnonymizationProfile; keep: ReadonlySet<number>; compiled: Compiled },
  keepKey: string,
): Uint8Array {
  const { uids, profile, keep } = opts;
  // value offsets and lengths of 0002,0001 / 0002,0002 / 0002,0003 / 0008,0016 / 0008,0018 (-1: absent)
  const mv = metaVals.fill(-1);
  for (let r = 0; r < rows.length / ROW_WORDS; r = rows[r * ROW_WORDS + R_NEXT]) {
    const o = r * ROW_WORDS;
    const tag = rows[o + R_TAG];
    if (tag > 0x00080018) break;
    const len = rows[o + R_LEN];
    if (len === UNDEF) continue;
    const k = tag === 0x00020001 ? 0 : tag === 0x00020002 ? 1 : tag === 0x00020003 ? 2 : tag === 0x00080016 ? 3 : tag === 0x00080018 ? 4 : -1;
    if (k < 0) continue;
    mv[k * 2] = rows[o + R_VAL];
    mv[k * 2 + 1] = len;
  }
  // the meta of the previous call when it was made from the same bytes (and options): in a run the
  // SOP instance differs, but re-reading a file or one instance per worker call repeats it
  let metaBytes: Uint8Array | undefined;
  const memo = metaMemo;
  if (memo && memo.ts === ts && memo.uids === uids && memo.profile === profile && memo.keepKey === keepKey) {
    let same = true;
    let q = 0;
    const key = memo.key;
    for (let k = 0; k < 5 && same; k++) {
      const v = mv[k * 2];
      const len = mv[k * 2 + 1];
      if (key[q++] !== (v < 0 ? -1 : len)) same = false;
      else if (v >= 0) for (let j = 0; j < len && same; j++) if (key[q++] !== src[v + j]) same = false;
    }
    if (same) metaBytes = memo.bytes;
  }
  if (!metaBytes) {
    const at = (k: number) => (mv[k * 2] < 0 ? undefined : asciiValue(src, mv[k * 2], mv[k * 2 + 1]));
    const version = mv[0] < 0 ? undefined : src.subarray(mv[0], mv[0] + mv[1]);
    // the data set's own values win: Part 10 wants the meta to repeat them, and some files disagree
    const cls = at(3) ?? at(1);
    let inst = at(4) ?? at(2);
    if (inst !== undefined) {
      const action = keep.has(0x00020003) ? 'K' : opts.compiled.rules.get(0x00020003)?.action ?? 'K';
      if (action === 'U' && inst !== '') inst = uids.map(inst);
    }
    metaBytes = fileMeta(ts, version, cls, inst);
    const key: number[] = [];
    for (let k = 0; k < 5; k++) {
      const v = mv[k * 2];
      key.push(v < 0 ? -1 : mv[k * 2 + 1]);
      if (v >= 0) for (let j = 0; j < mv[k * 2 + 1]; j++) key.push(src[v + j]);
    }
    metaMemo = { ts, uids, profile, keepKey, key: Int32Array.from(key), bytes: metaBytes };
  }
  return metaBytes;
}
