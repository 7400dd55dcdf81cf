// Siemens CSA headers: the private (0029,xx10) image and (0029,xx20) series elements of the
// 'SIEMENS CSA HEADER' block. Layout as documented by nibabel ("Siemens format DICOM with CSA
// header"): an optional 'SV10' + 4 bytes prefix (the newer format), tag count, a check word (77),
// then per tag a 64-byte name, VM, a 4-byte VR, SyngoDT, item count and a check word, then per
// item four int32 (the length is the second in SV10) and the text, padded to 4 bytes.


/** Thrown for a CSA header that is truncated or malformed. */
export class CsaParseError extends Error {
  readonly code = 'CSA_PARSE' as const;
  constructor(readonly reason: string, readonly offset: number) {
    super(`CSA header: ${reason} at offset ${offset}`);
    this.name = 'CsaParseError';
  }
}

export interface CsaElement {
  name: string;
  vm: number;
  vr: string;
  syngodt: number;
  /** Item texts as stored (up to the first NUL), including items beyond VM that hold nothing. */
  items: string[];
  /** The values: numbers for numeric VRs (FL FD DS IS SL SS UL US), trimmed strings otherwise. */
  values: (number | string)[];
}

export interface CsaHeader {
  format: 'SV10' | 'CSA1';
  elements: Map<string, CsaElement>;
}

/** Bounds that keep a hostile header from driving long loops (real headers have ~100 tags, <= 64 items). */
const MAX_TAGS = 1000;
const MAX_ITEMS = 1000;
const NUMERIC_VRS = new Set(['FL', 'FD', 'DS', 'IS', 'SL', 'SS', 'UL', 'US']);
const INT_VRS = new Set(['IS', 'SL', 'SS', 'UL', 'US']);

function cString(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** 'SV10': the newer format's prefix. */
function startsSv10(bytes: Uint8Array): boolean {
  return bytes[0] === 0x53 && bytes[1] === 0x56 && bytes[2] === 0x31 && bytes[3] === 0x30;
}

/** True when the bytes start like a CSA header (either format). */
export function isCsaHeader(bytes: Uint8Array): boolean {
  if (bytes.length < 16) return false;
  if (startsSv10(bytes)) return true;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true);
  return n > 0 && n <= MAX_TAGS && dv.getUint32(4, true) === 77;
}

export function parseCsaHeader(bytes: Uint8Array): CsaHeader {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  const sv10 = len >= 4 && startsSv10(bytes);
  let p = sv10 ? 8 : 0;
  if (p + 8 > len) throw new CsaParseError('truncated header', p);
  const nTags = dv.getUint32(p, true);
  p += 8;
  if (nTags < 1 || nTags > MAX_TAGS) throw new CsaParseError(`tag count ${nTags} out of range`, p - 8);
  const elements = new Map<string, CsaElement>();
  // Old-format item lengths are offset by the item count of the second tag (nibabel's finding).
  let csa1Offset: number | undefined;
  for (let t = 0; t < nTags; t++) {
    if (p + 84 > len) throw new CsaParseError('truncated tag header', p);
    const name = cString(bytes, p, p + 64);
    const vm = dv.getInt32(p + 64, true);
    const vr = cString(bytes, p + 68, p + 72).trim();
    const syngodt = dv.getInt32(p + 72, true);
    const nItems = dv.getInt32(p + 76, true);
    p += 84;
    if (nItems < 0 || nItems > MAX_ITEMS) throw new CsaParseError(`item count ${nItems} out of range`, p - 8);
    if (t === 1) csa1Offset = nItems;
    const nValues = vm > 0 ? vm : nItems;
    const items: string[] = [];
    const values: (number | string)[] = [];
    let ended = false;
    for (let i = 0; i < nItems; i++) {
      if (p + 16 > len) throw new CsaParseError('truncated item header', p);
      let itemLen: number;
      // Before the second tag's item count is known (tag 0), the old format's second word holds the length.
      if (sv10 || csa1Offset === undefined) itemLen = dv.getInt32(p + 4, true);
      else itemLen = dv.getInt32(p, true) - csa1Offset;
      p += 16;
      if (!sv10 && (itemLen < 0 || p + itemLen > len)) {
        // Old-format headers end a tag's items this way; nibabel stops reading the tag here.
        break;
      }
      if (itemLen < 0 || p + itemLen > len) throw new CsaParseError(`item length ${itemLen} out of range`, p - 12);
      const text = cString(bytes, p, p + itemLen);
      items.push(text);
      p += (itemLen + 3) & ~3;
      if (i >= nValues || ended) continue;
      if (itemLen === 0 || text.trim() === '') {
        if (NUMERIC_VRS.has(vr)) ended = true;
        continue;
      }
      if (NUMERIC_VRS.has(vr)) {
        const v = INT_VRS.has(vr) ? parseInt(text, 10) : parseFloat(text);
        values.push(Number.isNaN(v) ? text.trim() : v);
      } else values.push(text.trimEnd());
    }
    elements.set(name, { name, vm, vr, syngodt, items, values });
  }
  return { format: sv10 ? 'SV10' : 'CSA1', elements };
}

/** Values of one CSA element, or undefined when absent or empty. */
export function csaValues(header: CsaHeader, name: string): (number | string)[] | undefined {
  const el = header.elements.get(name);
  return el && el.values.length > 0 ? el.values : undefined;
}

export interface CsaElementInput {
  name: string;
  vr: string;
  /** Defaults to the value count (0 for open-ended lists such as MosaicRefAcqTimes: pass vm: 0). */
  vm?: number;
  syngodt?: number;
  values: (number | string)[];
  /** Raw item texts to write instead of formatting `values` (keeps a filtered header's text exact). */
  items?: string[];
}

const SYNGODT: Record<string, number> = { IS: 6, DS: 3, FD: 4, FL: 5, UL: 9, US: 10, SL: 7, SS: 8, SH: 22, LO: 19, UT: 27, ST: 26, CS: 16, LT: 20, UN: 0 };

function formatItem(v: number | string, vr: string): string {
  if (typeof v === 'string') return v;
  if (vr === 'IS' || vr === 'US' || vr === 'UL' || vr === 'SS' || vr === 'SL') return String(Math.trunc(v)).padEnd(8, ' ');
  return v.toFixed(8);
}

/**
 * Encodes a CSA header as Siemens writes it (SV10 by default): item texts NUL-terminated,
 * at least 6 items for tags with a fixed VM, padding items marked 205.
 */
export function writeCsaHeader(elements: CsaElementInput[], opts: { format?: 'SV10' | 'CSA1' } = {}): Uint8Array {
  const sv10 = (opts.format ?? 'SV10') === 'SV10';
  const enc = new TextEncoder();
  const prepared = elements.map((e) => {
    const vm = e.vm ?? e.values.length;
    const texts = e.items ?? e.values.map((v) => formatItem(v, e.vr));
    const count = vm > 0 ? Math.max(6, texts.length) : texts.length;
    return { e, vm, texts, count };
  });
  const tag1Items = prepared[1]?.count ?? 0;
  let size = sv10 ? 16 : 8;
  for (const p of prepared) {
    size += 84;
    for (let i = 0; i < p.count; i++) {
      const t = p.texts[i];
      const l = t === undefined || t === '' ? 0 : enc.encode(t).length + 1;
      size += 16 + ((l + 3) & ~3);
    }
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let o = 0;
  if (sv10) {
    out.set([0x53, 0x56, 0x31, 0x30, 4, 3, 2, 1]);
    o = 8;
  }
  dv.setUint32(o, prepared.length, true);
  dv.setUint32(o + 4, 77, true);
  o += 8;
  for (const p of prepared) {
    out.set(enc.encode(p.e.name).subarray(0, 63), o);
    dv.setInt32(o + 64, p.vm, true);
    out.set(enc.encode(p.e.vr).subarray(0, 3), o + 68);
    dv.setInt32(o + 72, p.e.syngodt ?? SYNGODT[p.e.vr] ?? 0, true);
    dv.setInt32(o + 76, p.count, true);
    dv.setInt32(o + 80, p.count > 0 ? 77 : 205, true);
    o += 84;
    for (let i = 0; i < p.count; i++) {
      const t = p.texts[i];
      const bytes = t === undefined || t === '' ? undefined : enc.encode(t);
      const l = bytes ? bytes.length + 1 : 0;
      const stored = sv10 ? l : l + tag1Items;
      dv.setInt32(o, stored, true);
      dv.setInt32(o + 4, l, true);
      dv.setInt32(o + 8, l > 0 ? 77 : 205, true);
      dv.setInt32(o + 12, stored, true);
      o += 16;
      if (bytes) out.set(bytes, o);
      o += (l + 3) & ~3;
    }
  }
  return out;
}

const fnvCache = new WeakMap<ReadonlySet<string>, Map<number, Uint8Array[]>>();
/** The kept names' bytes, by FNV-1a hash: names are matched without decoding ~100 of them per image. */
function keepByHash(keep: ReadonlySet<string>): Map<number, Uint8Array[]> {
  let map = fnvCache.get(keep);
  if (!map) {
    map = new Map();
    for (const name of keep) {
      const b = Uint8Array.from(name, (c) => c.charCodeAt(0) & 0xff);
      let h = 0x811c9dc5;
      for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
      const list = map.get(h >>> 0) ?? [];
      list.push(b);
      map.set(h >>> 0, list);
    }
    fnvCache.set(keep, map);
  }
  return map;
}

function i32(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
}

/**
 * Keeps only the named elements of a CSA header. SV10 tag blocks are position independent, so
 * kept blocks are copied, but only the bytes they hold on purpose: each 64-byte name and 4-byte VR
 * field up to its terminating NUL, each item's text up to and including its first NUL, and the
 * numbers; every other byte of the output is zero (Siemens leaves uninitialised memory after the
 * NULs, which can hold e.g. the station name). The check words are written as Siemens writes them
 * (77 / 205). The old format is re-encoded (its item lengths depend on the second tag).
 */
export function filterCsaHeader(bytes: Uint8Array, keep: ReadonlySet<string>): Uint8Array {
  const sv10 = bytes.length >= 16 && startsSv10(bytes);
  if (!sv10) {
    const h = parseCsaHeader(bytes);
    const kept: CsaElementInput[] = [];
    for (const el of h.elements.values()) {
      if (!keep.has(el.name)) continue;
      kept.push({ name: el.name, vr: el.vr, vm: el.vm, syngodt: el.syngodt, values: el.values, items: el.items });
    }
    if (kept.length === 0) return new Uint8Array(0);
    return writeCsaHeader(kept, { format: h.format });
  }
  return filterSv10(bytes, keep);
}

function setI32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** The SV10 filter (src/core/anonymize.c's csa_filter is the same in C). */
function filterSv10(bytes: Uint8Array, keep: ReadonlySet<string>): Uint8Array {
  const len = bytes.length;
  const nTags = i32(bytes, 8) >>> 0;
  if (nTags < 1 || nTags > MAX_TAGS) throw new CsaParseError(`tag count ${nTags} out of range`, 8);
  const byHash = keepByHash(keep);
  // kept tags: [tag start, end (after the last item's padding, clipped to the input)]
  const kept: number[] = [];
  let size = 16;
  let p = 16;
  for (let t = 0; t < nTags; t++) {
    if (p + 84 > len) throw new CsaParseError('truncated tag header', p);
    const start = p;
    let h = 0x811c9dc5;
    let n = 0;
    while (n < 64 && bytes[p + n] !== 0) h = Math.imul(h ^ bytes[p + n++], 0x01000193);
    let wanted = false;
    const candidates = byHash.get(h >>> 0);
    if (candidates) {
      for (const c of candidates) {
        if (c.length !== n) continue;
        let same = true;
        for (let i = 0; i < n && same; i++) same = c[i] === bytes[p + i];
        if (same) wanted = true;
      }
    }
    const nItems = i32(bytes, p + 76);
    if (nItems < 0 || nItems > MAX_ITEMS) throw new CsaParseError(`item count ${nItems} out of range`, p + 76);
    p += 84;
    for (let i = 0; i < nItems; i++) {
      if (p + 16 > len) throw new CsaParseError('truncated item header', p);
      const itemLen = i32(bytes, p + 4);
      p += 16;
      if (itemLen < 0 || p + itemLen > len) throw new CsaParseError(`item length ${itemLen} out of range`, p - 12);
      p += (itemLen + 3) & ~3;
    }
    if (p > len) p = len; // the last item's padding may be missing
    if (wanted) {
      kept.push(start, p);
      size += p - start;
    }
  }
  if (kept.length === 0) return new Uint8Array(0);
  const out = new Uint8Array(size);
  out.set(bytes.subarray(0, 4)); // 'SV10'
  // the four bytes after 'SV10' are 04 03 02 01 (or zeros in older files); the word after the count is 77
  const marker = i32(bytes, 4);
  setI32(out, 4, marker === 0 ? 0 : 0x01020304);
  setI32(out, 8, kept.length / 2);
  setI32(out, 12, 77);
  let o = 16;
  // copies the text of [from, from + n) up to and including its first NUL (the rest stays zero)
  const text = (from: number, n: number, to: number) => {
    for (let j = 0; j < n; j++) {
      const b = bytes[from + j];
      out[to + j] = b;
      if (b === 0) return;
    }
  };
  for (let k = 0; k < kept.length; k += 2) {
    let q = kept[k];
    const end = kept[k + 1];
    text(q, 64, o); // name
    setI32(out, o + 64, i32(bytes, q + 64)); // VM
    text(q + 68, 4, o + 68); // VR
    setI32(out, o + 72, i32(bytes, q + 72)); // SyngoDT
    const nItems = i32(bytes, q + 76);
    setI32(out, o + 76, nItems);
    setI32(out, o + 80, nItems > 0 ? 77 : 205);
    q += 84;
    o += 84;
    for (let i = 0; i < nItems; i++) {
      const itemLen = i32(bytes, q + 4);
      // Siemens writes the length in the first, second and fourth words, 77 (or 205 when empty) in the third
      setI32(out, o, itemLen);
      setI32(out, o + 4, itemLen);
      setI32(out, o + 8, itemLen > 0 ? 77 : 205);
      setI32(out, o + 12, itemLen);
      q += 16;
      o += 16;
      text(q, Math.min(itemLen, end - q), o);
      const padded = Math.min((itemLen + 3) & ~3, end - q);
      q += padded;
      o += padded;
    }
  }
  return out;
}

