// Test oracle (see rewrite.ts): replaced UID elements (header + value), cached per session map and looked up by a hash of the
// original bytes: most UIDs recur across a run's volumes, and a hit costs no string and no encoding.

import { ownCopy } from '../../src/node-buffer.js';
import { writeElementBytes } from '../../src/writer.js';
import { DICOM_UID_ROOT, latin1, type Ctx, type Enc } from './context.js';
import type { UidMap } from '../../src/anonymize/uid-map.js';

export interface UidEntry {
  tag: number;
  /** encoding and rule kind, as bits: explicit 1, little endian 2, implicit rule 4 */
  kind: number;
  old: Uint8Array;
  view: DataView;
  /** the replaced element (header + value) for one encoding and tag; empty when unchanged */
  element: Uint8Array;
}

const uidElementCache = new WeakMap<UidMap, Map<number, UidEntry[]>>();
let uidCacheSize = 0;

export function uidCacheOf(uids: UidMap): Map<number, UidEntry[]> {
  let cache = uidElementCache.get(uids);
  if (!cache) {
    cache = new Map();
    uidElementCache.set(uids, cache);
  }
  return cache;
}

/**
 * The element that replaces the UI element `tag` whose value is bytes [start, start + length),
 * or null when its UIDs stay (empty values; under the implicit "any other UID" rule, DICOM-defined
 * ones).
 */
export function mappedUidElement(ctx: Ctx, tag: number, enc: Enc, start: number, length: number, implicitRule: boolean): Uint8Array | null {
  const { bytes, view, uidCache: cache, uids } = ctx;
  let end = start + length;
  while (end > start && (bytes[end - 1] === 0 || bytes[end - 1] === 0x20)) end--;
  const kind = (enc.explicit ? 1 : 0) | (enc.littleEndian ? 2 : 0) | (implicitRule ? 4 : 0);
  // hashed and compared four bytes at a time: ~35 UIDs per image, 50-60 bytes each
  let h = Math.imul(tag ^ (kind << 29), 0x01000193);
  let i = start;
  for (; i + 4 <= end; i += 4) h = Math.imul(h ^ view.getInt32(i, true), 0x01000193) ^ (h >>> 15);
  for (; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  h >>>= 0;
  const n = end - start;
  const list = cache.get(h);
  if (list) {
    for (let x = 0; x < list.length; x++) {
      const e = list[x];
      if (e.tag !== tag || e.kind !== kind || e.old.length !== n) continue;
      const ov = e.view;
      let j = 0;
      for (; j + 4 <= n; j += 4) if (ov.getInt32(j, true) !== view.getInt32(start + j, true)) break;
      if (j + 4 <= n) continue;
      for (; j < n; j++) if (e.old[j] !== bytes[start + j]) break;
      if (j < n) continue;
      return e.element.length === 0 ? null : e.element;
    }
  }
  const old = latin1(bytes, start, end);
  const parts = old.split('\\').map((u) => u.trim());
  const mapped = parts.map((u) => (u === '' || (implicitRule && u.startsWith(DICOM_UID_ROOT)) ? u : uids.map(u)));
  const unchanged = mapped.every((u, i) => u === parts[i]);
  // one byte per character (the WebAssembly pass keeps a kept part's bytes as they were: a byte
  // 0x80-0xff stays one byte; this oracle's original text encoding wrote it as two UTF-8 bytes)
  const element = unchanged ? new Uint8Array(0) : writeElementBytes({ tag, vr: 'UI', value: Uint8Array.from(mapped.join('\\'), (ch) => ch.charCodeAt(0)) }, enc);
  let cleared = false;
  if (uidCacheSize > 200_000) {
    cache.clear(); // a bound for very long sessions
    uidCacheSize = 0;
    cleared = true;
  }
  uidCacheSize++;
  const copy = ownCopy(bytes, start, end);
  const entry: UidEntry = { tag, kind, old: copy, view: new DataView(copy.buffer), element };
  if (list && !cleared) list.push(entry);
  else cache.set(h, [entry]);
  return unchanged ? null : element;
}
