// Anonymization that returns new Part-10 bytes. The WebAssembly walk (parseDicom) gives every
// element's offsets; the output is then assembled from views of the untouched byte ranges plus a
// few re-encoded elements, so the pixel data moves with one `set()` and every element the profile
// does not touch stays byte-identical. Defined lengths of sequences and items that contain a
// change are recomputed; undefined-length ones keep their delimiters.

import { deflateSync } from 'fflate';
import { CsaParseError, filterCsaHeader, filterCsaHeaderReused } from './csa.js';
import { DEFLATED_EXPLICIT_VR_LE, parseDicom, type DicomDataset } from './dataset.js';
import { parseTagKey, vrOf } from './dictionary.js';
import { DicomParseError } from './errors.js';
import { DEFAULT_PROFILE, type AnonymizationAction, type AnonymizationProfile, type ProfileRule, type SafePrivateRule } from './profile.js';
import { F_BE, F_ENCAPS, F_IMPLICIT, F_META, F_SEQ, R_END, R_HDR, R_LEN, R_NEXT, R_TAG, R_VAL, R_VRF, ROW_WORDS, UNDEF } from './wasm.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, encodeHeader, encodeItemHeader, encodeValue, resolveTag, writeElementBytes, type WriteElement } from './writer.js';

export interface UidMap {
  /** The secret the replacement UIDs derive from: share it (not the map) with worker threads. */
  readonly secret: string;
  /** UID root of the replacements; undefined = '2.25' (UUID-derived). */
  readonly root: string | undefined;
  /** The replacement for `uid`; the same input gives the same output for this secret. */
  map(uid: string): string;
}

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

// ---- session-consistent UIDs ---------------------------------------------------------------

const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const W = new Uint32Array(64);
const H = new Uint32Array(8);
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
let block = new Uint8Array(128);

/**
 * SHA-256 of `data` into the returned (shared, overwritten on the next call) 8-word state.
 * Synchronous and allocation-free, so it runs the same in Node, browsers and workers and costs
 * about a microsecond for a UID.
 */
function sha256Words(data: Uint8Array, length: number): Uint32Array {
  const padded = ((length + 9 + 63) >> 6) << 6;
  if (block.length < padded) block = new Uint8Array(padded);
  const m = block;
  m.set(data.subarray(0, length));
  m.fill(0, length, padded);
  m[length] = 0x80;
  const bitLen = length * 8;
  m[padded - 5] = Math.floor(bitLen / 2 ** 32) & 0xff;
  m[padded - 4] = (bitLen >>> 24) & 0xff;
  m[padded - 3] = (bitLen >>> 16) & 0xff;
  m[padded - 2] = (bitLen >>> 8) & 0xff;
  m[padded - 1] = bitLen & 0xff;
  for (let i = 0; i < 8; i++) H[i] = H0[i];
  for (let off = 0; off < padded; off += 64) {
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      W[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15], y = W[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K256[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  return H;
}

/** SHA-256 digest (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  const h = sha256Words(data, data.length);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    out[i * 4] = h[i] >>> 24;
    out[i * 4 + 1] = (h[i] >>> 16) & 0xff;
    out[i * 4 + 2] = (h[i] >>> 8) & 0xff;
    out[i * 4 + 3] = h[i] & 0xff;
  }
  return out;
}

const limbs = new Uint32Array(8);
/** Decimal digits of the 128-bit big-endian number in words[0..3] (no BigInt: it is 10x slower here). */
function decimal128(words: ArrayLike<number>): string {
  for (let i = 0; i < 4; i++) {
    limbs[i * 2] = words[i] >>> 16;
    limbs[i * 2 + 1] = words[i] & 0xffff;
  }
  let out = '';
  for (;;) {
    let rem = 0;
    let nonzero = false;
    for (let i = 0; i < 8; i++) {
      const cur = rem * 65536 + limbs[i];
      const q = Math.floor(cur / 1e7);
      rem = cur - q * 1e7;
      limbs[i] = q;
      if (q !== 0) nonzero = true;
    }
    if (!nonzero) return String(rem) + out;
    out = String(rem).padStart(7, '0') + out;
  }
}

function randomSecret(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * A UID map for one session. Replacements derive from `secret` and the original UID
 * (SHA-256), so every worker holding the same secret maps a UID the same way, and nobody
 * without the secret can map an original UID to its replacement.
 */
export function createUidMap(options: { secret?: string; root?: string } = {}): UidMap {
  const secret = options.secret ?? randomSecret();
  const root = options.root;
  if (root !== undefined && !/^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(root)) throw new RangeError(`bad UID root ${root}`);
  const maxDigits = root === undefined ? 0 : 64 - root.length - 1;
  if (root !== undefined && maxDigits < 12) throw new RangeError(`UID root ${root} leaves too few digits`);
  const cache = new Map<string, string>();
  let msg = new Uint8Array(256);
  const prefix = `${secret}\u0000`;
  for (let i = 0; i < prefix.length; i++) msg[i] = prefix.charCodeAt(i) & 0xff;
  return {
    secret,
    root,
    map(uid: string): string {
      const hit = cache.get(uid);
      if (hit !== undefined) return hit;
      const n = prefix.length + uid.length;
      if (msg.length < n) {
        const next = new Uint8Array(n * 2);
        next.set(msg.subarray(0, prefix.length));
        msg = next;
      }
      // UIDs are ASCII (digits and dots); anything else is hashed by its low byte, still deterministic
      for (let i = 0; i < uid.length; i++) msg[prefix.length + i] = uid.charCodeAt(i) & 0xff;
      const h = sha256Words(msg, n);
      // a version-8 (custom) UUID from the first 128 bits, written as a 2.25 UID
      const words = [h[0] >>> 0, ((h[1] & 0xffff0fff) | 0x00008000) >>> 0, ((h[2] & 0x3fffffff) | 0x80000000) >>> 0, h[3] >>> 0];
      const digits = decimal128(words);
      const out = root === undefined ? `2.25.${digits}` : `${root}.${digits.slice(0, maxDigits)}`;
      if (cache.size > 100_000) cache.clear();
      cache.set(uid, out);
      return out;
    },
  };
}

const processMaps = new Map<string, UidMap>();
function defaultUidMap(root: string | undefined): UidMap {
  const key = root ?? '';
  let m = processMaps.get(key);
  if (!m) {
    m = createUidMap({ root });
    processMaps.set(key, m);
  }
  return m;
}

// ---- profile compilation -------------------------------------------------------------------

interface Compiled {
  rules: Map<number, ProfileRule>;
  /** the same rules in an open-addressing table: looked up for every element of every image */
  ruleTable: TagTable<ProfileRule>;
  /** blanked elements by rule index * 4 + encoding, with the stream VR (0 = implicit) they were made for */
  blanks: (Uint8Array | null | undefined)[];
  blankVr: Int32Array;
  safe: Map<number, SafePrivateRule[]>; // by group
  csaKeep: Set<string>;
  add: { tag: number; el: WriteElement }[];
  /** the added elements, encoded once per encoding (explicit | little endian << 1) */
  addBytes: (Uint8Array[] | undefined)[];
}

function addedBytes(c: Compiled, enc: Enc): Uint8Array[] {
  const k = (enc.explicit ? 1 : 0) | (enc.littleEndian ? 2 : 0);
  return (c.addBytes[k] ??= c.add.map((a) => writeElementBytes(a.el, enc)));
}

/**
 * A read-only map from tag to value, probed linearly in a typed array: a `Map` lookup with tags
 * as keys (some above the small-integer range) costs several times more.
 */
class TagTable<T> {
  private readonly keys: Uint32Array;
  private readonly slots: Int32Array;
  private readonly values: T[];
  private readonly shift: number;
  private readonly mask: number;
  constructor(map: Map<number, T>) {
    let bits = 4;
    while (1 << bits < map.size * 4) bits++;
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
    this.keys = new Uint32Array(1 << bits);
    this.slots = new Int32Array(1 << bits).fill(-1);
    this.values = [];
    for (const [tag, v] of map) {
      let h = Math.imul(tag, 0x9e3779b1) >>> this.shift;
      while (this.slots[h] >= 0) h = (h + 1) & this.mask;
      this.keys[h] = tag;
      this.slots[h] = this.values.length;
      this.values.push(v);
    }
  }
  /** The value's index (0 .. size-1), or -1. */
  index(tag: number): number {
    let h = Math.imul(tag, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const s = this.slots[h];
      if (s < 0 || this.keys[h] === tag >>> 0) return s;
      h = (h + 1) & this.mask;
    }
  }
  at(i: number): T {
    return this.values[i];
  }
  get(tag: number): T | undefined {
    const i = this.index(tag);
    return i < 0 ? undefined : this.values[i];
  }
}

const compiledProfiles = new WeakMap<AnonymizationProfile, Compiled>();

function tagOfKey(key: string | number): number {
  const t = parseTagKey(key);
  if (t !== undefined) return t;
  return resolveTag(key);
}

function compile(profile: AnonymizationProfile): Compiled {
  let c = compiledProfiles.get(profile);
  if (c) return c;
  const rules = new Map<number, ProfileRule>();
  for (const r of profile.rules) rules.set(tagOfKey(r.tag), r);
  const safe = new Map<number, SafePrivateRule[]>();
  for (const s of profile.safePrivate) {
    const list = safe.get(s.group) ?? [];
    list.push(s);
    safe.set(s.group, list);
  }
  const add = profile.add
    .map((a) => ({ tag: tagOfKey(a.tag), el: { tag: tagOfKey(a.tag), vr: a.vr, value: a.value } as WriteElement }))
    .sort((x, y) => x.tag - y.tag);
  c = { rules, ruleTable: new TagTable(rules), blanks: [], blankVr: new Int32Array(rules.size * 4), safe, csaKeep: new Set(profile.csaKeep), add, addBytes: [] };
  compiledProfiles.set(profile, c);
  return c;
}

// ---- the rewrite ---------------------------------------------------------------------------

/** True while an output under construction holds filterCsaHeaderReused's buffer. */
let csaPending = false;

interface Ctx {
  bytes: Uint8Array;
  view: DataView;
  uidCache: Map<number, UidEntry[]>;
  profile: AnonymizationProfile;
  compiled: Compiled;
  keep: Set<number>;
  uids: UidMap;
  /** set while the full path runs for a plan: what its decisions read from values */
  rec: PlanRec | null;
}

const DICOM_UID_ROOT = '1.2.840.10008.';


/** Action for a private element, from its block's creator and the profile's safe list. */
function privateAction(ctx: Ctx, tag: number, creators: Map<number, string>): AnonymizationAction {
  if (ctx.keep.has(tag)) return 'K';
  if (!ctx.profile.removePrivate) return 'K';
  const group = tag >>> 16;
  const elem = tag & 0xffff;
  const safe = ctx.compiled.safe.get(group);
  if (elem >= 0x10 && elem <= 0xff) {
    // a creator stays when its block holds anything kept: a safe element, or one the caller listed
    for (const k of ctx.keep) if (k >>> 16 === group && ((k >>> 8) & 0xff) === elem && (k & 0xffff) >= 0x1000) return 'K';
    const creator = creators.get(elem);
    return safe && creator !== undefined && safe.some((s) => s.creator === creator) ? 'K' : 'X';
  }
  if (elem < 0x1000 || !safe) return 'X';
  const creator = creators.get(elem >>> 8);
  const rule = creator === undefined ? undefined : safe.find((s) => s.creator === creator && s.element === (elem & 0xff));
  return rule ? rule.action : 'X';
}

interface Enc {
  explicit: boolean;
  littleEndian: boolean;
}

// Blanked elements are the same bytes in every file: encode each once.
const blankCache = new Map<number, Map<string, Uint8Array>>();
function blankElement(enc: Enc, tag: number, vr: string): Uint8Array {
  let byTag = blankCache.get(tag);
  if (!byTag) blankCache.set(tag, (byTag = new Map()));
  const key = enc.explicit ? (enc.littleEndian ? vr : vr + 'b') : enc.littleEndian ? 'i' : 'ib';
  let b = byTag.get(key);
  if (!b) {
    b = writeElementBytes({ tag, vr, value: vr === 'SQ' ? [] : null }, enc);
    byTag.set(key, b);
  }
  return b;
}

const WRITABLE_VRS = new Set('AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '));
const VR_UI = 0x55 | (0x49 << 8);
/** The row's VR is UI (explicit: from the stream; implicit: from the dictionary). */
function isUiRow(rows: Uint32Array, r: number): boolean {
  const vr = rows[r * ROW_WORDS + R_VRF] & 0xffff;
  if (vr !== 0) return vr === VR_UI;
  return rowVr(rows, r) === 'UI';
}

/** Bytes as Latin-1 text; in chunks, so a hostile multi-megabyte value cannot overflow the call stack. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 4096) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let i = start; i < end; i += 4096) s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  return s;
}

/** A short text value straight from the bytes (UIDs and private creators are ASCII by definition). */
function asciiValue(bytes: Uint8Array, start: number, length: number): string {
  let end = start + length;
  while (end > start && (bytes[end - 1] === 0 || bytes[end - 1] === 0x20)) end--;
  return latin1(bytes, start, end);
}

const DICOM_ROOT_BYTES = Array.from(DICOM_UID_ROOT, (c) => c.charCodeAt(0));
/** True when the UI value is one UID under 1.2.840.10008 (a class or syntax, not an instance). */
function isDicomDefinedUid(bytes: Uint8Array, start: number, length: number): boolean {
  if (length < DICOM_ROOT_BYTES.length) return false;
  for (let i = 0; i < DICOM_ROOT_BYTES.length; i++) if (bytes[start + i] !== DICOM_ROOT_BYTES[i]) return false;
  for (let i = 0; i < length; i++) if (bytes[start + i] === 0x5c) return false; // several values: check each
  return true;
}

interface UidEntry {
  tag: number;
  /** encoding and rule kind, as bits: explicit 1, little endian 2, implicit rule 4 */
  kind: number;
  old: Uint8Array;
  view: DataView;
  /** the replaced element (header + value) for one encoding and tag; empty when unchanged */
  element: Uint8Array;
}

/**
 * Replaced UID elements, cached per session map and looked up by a hash of the original bytes:
 * most UIDs recur across a run's volumes, and a hit costs no string and no encoding.
 */
const uidElementCache = new WeakMap<UidMap, Map<number, UidEntry[]>>();
let uidCacheSize = 0;
function uidCacheOf(uids: UidMap): Map<number, UidEntry[]> {
  let cache = uidElementCache.get(uids);
  if (!cache) {
    cache = new Map();
    uidElementCache.set(uids, cache);
  }
  return cache;
}
function mappedUidElement(ctx: Ctx, tag: number, enc: Enc, start: number, length: number, implicitRule: boolean): Uint8Array | null {
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
  const element = unchanged ? new Uint8Array(0) : writeElementBytes({ tag, vr: 'UI', value: mapped }, enc);
  let cleared = false;
  if (uidCacheSize > 200_000) {
    cache.clear(); // a bound for very long sessions
    uidCacheSize = 0;
    cleared = true;
  }
  uidCacheSize++;
  const copy = bytes.slice(start, end);
  const entry: UidEntry = { tag, kind, old: copy, view: new DataView(copy.buffer), element };
  if (list && !cleared) list.push(entry);
  else cache.set(h, [entry]);
  return unchanged ? null : element;
}

/** Element VR: from the stream in explicit VR, else the dictionary (UN when unknown). */
function rowVr(rows: Uint32Array, r: number): string {
  const vrf = rows[r * ROW_WORDS + R_VRF];
  const a = vrf & 0xff;
  if (a !== 0) return String.fromCharCode(a, (vrf >>> 8) & 0xff);
  if ((vrf >>> 16) & F_SEQ) return 'SQ';
  return vrOf(rows[r * ROW_WORDS + R_TAG]) ?? 'UN';
}

interface Walk {
  rows: Uint32Array;
}

const NO_BYTES = new Uint8Array(0);

/**
 * The output as a list of pieces: ranges of the input (adjacent ones merged, no subarray objects)
 * or encoded bytes. Changes are tried speculatively (a sequence may turn out unchanged), so the
 * list can be cut back to a mark.
 */
class Out {
  /** null: the input range [a, b); else these bytes (a = 0, b = length) */
  arr: (Uint8Array | null)[] = [];
  a: number[] = [];
  b: number[] = [];
  n = 0;
  range(start: number, end: number): void {
    if (end <= start) return;
    const n = this.n;
    if (n > 0 && this.arr[n - 1] === null && this.b[n - 1] === start) {
      this.b[n - 1] = end;
      return;
    }
    this.arr[n] = null;
    this.a[n] = start;
    this.b[n] = end;
    this.n = n + 1;
  }
  bytes(x: Uint8Array): number {
    const n = this.n;
    this.arr[n] = x;
    this.a[n] = 0;
    this.b[n] = x.length;
    this.n = n + 1;
    return n;
  }
  set(i: number, x: Uint8Array): void {
    this.arr[i] = x;
    this.b[i] = x.length;
  }
  /** A mark: the count and the last range's end (a later range may have extended it). */
  mark(): number {
    return this.n;
  }
  lastEnd(): number {
    return this.n > 0 ? this.b[this.n - 1] : 0;
  }
  reset(n: number, lastEnd: number): void {
    this.n = n;
    if (n > 0) this.b[n - 1] = lastEnd;
  }
  size(from: number): number {
    let s = 0;
    for (let i = from; i < this.n; i++) s += this.b[i] - this.a[i];
    return s;
  }
  /** Copies the pieces into `dst` from `pos`; returns the end position. */
  copy(src: Uint8Array, dst: Uint8Array, pos: number): number {
    for (let i = 0; i < this.n; i++) {
      const x = this.arr[i];
      const a = this.a[i];
      const len = this.b[i] - a;
      if (x === null) {
        // short ranges by hand: a subarray object costs more than copying a few dozen bytes
        if (len <= 48) for (let j = 0; j < len; j++) dst[pos + j] = src[a + j];
        else dst.set(src.subarray(a, a + len), pos);
      } else if (len <= 48) {
        for (let j = 0; j < len; j++) dst[pos + j] = x[j];
      } else {
        dst.set(x, pos);
      }
      pos += len;
    }
    return pos;
  }
}

/**
 * Rewrites the elements in rows [first, endRow) (one data set or item) whose bytes span
 * [start, end). Appends the new contents to `o` and returns true, or returns false (appending
 * nothing) when nothing changed.
 */
function rewriteRows(ctx: Ctx, w: Walk, first: number, endRow: number, start: number, end: number, root: boolean, enc: Enc, o: Out): boolean {
  const { bytes } = ctx;
  const rows = w.rows;
  let cursor = start;
  let changed = false;
  let creators: Map<number, string> | undefined;
  let creatorGroup = -1;
  const adds = root ? ctx.compiled.add : [];
  const addBytes = root ? addedBytes(ctx.compiled, enc) : [];
  let addIdx = 0;

  for (let r = first; r < endRow; r = rows[r * ROW_WORDS + R_NEXT]) {
    const ro = r * ROW_WORDS;
    const flags = rows[ro + R_VRF] >>> 16;
    if (flags & F_META) continue;
    const tag = rows[ro + R_TAG];
    const hdr = rows[ro + R_HDR];
    const elEnd = rows[ro + R_END];
    const valOff = rows[ro + R_VAL];
    const len = rows[ro + R_LEN];
    let out: Uint8Array | null | undefined; // undefined: unchanged
    let uidRow = -1;
    let uidImplicit = false;

    while (addIdx < adds.length && adds[addIdx].tag < tag) {
      o.range(cursor, hdr);
      cursor = hdr;
      o.bytes(addBytes[addIdx++]);
      changed = true;
    }
    if (addIdx < adds.length && adds[addIdx].tag === tag) {
      out = addBytes[addIdx++];
    } else {
      const group = tag >>> 16;
      const elem = tag & 0xffff;
      let action: AnonymizationAction;
      let rule: ProfileRule | undefined;
      let ri = -1;
      if (group & 1) {
        if (group !== creatorGroup) {
          creators = new Map();
          creatorGroup = group;
        }
        if (elem >= 0x10 && elem <= 0xff && len !== UNDEF) {
          creators!.set(elem, asciiValue(bytes, valOff, len).trim());
          ctx.rec?.creators.push(r, bytes.slice(valOff, valOff + len));
        }
        action = privateAction(ctx, tag, creators!);
      } else if (ctx.keep.size !== 0 && ctx.keep.has(tag)) {
        action = 'K';
      } else if (elem === 0) {
        action = 'X'; // group lengths would be wrong after any change; they are retired anyway
      } else {
        ri = ctx.compiled.ruleTable.index(tag);
        rule = ri < 0 ? undefined : ctx.compiled.ruleTable.at(ri);
        if (rule) action = rule.action;
        else if (ctx.profile.replaceOtherUids && isUiRow(rows, r)) {
          const defined = isDicomDefinedUid(bytes, valOff, len);
          ctx.rec?.defined.push(r, defined ? 1 : 0);
          action = defined ? 'K' : 'U';
        }
        else action = 'K';
      }
      switch (action) {
        case 'X':
          out = null;
          break;
        case 'Z': {
          if (len === 0) break;
          const c = ctx.compiled;
          const slot = ri * 4 + (enc.explicit ? 1 : 0) + (enc.littleEndian ? 2 : 0);
          const vr16 = rows[ro + R_VRF] & 0xffff;
          const hit = ri < 0 ? undefined : c.blanks[slot];
          if (hit !== undefined && c.blankVr[slot] === vr16) {
            out = hit;
            break;
          }
          const vr = rowVr(rows, r);
          // a VR no standard defines cannot be re-encoded reliably: the attribute goes instead
          out = WRITABLE_VRS.has(vr) ? blankElement(enc, tag, vr) : null;
          if (ri >= 0) {
            c.blanks[slot] = out;
            c.blankVr[slot] = vr16;
          }
          break;
        }
        case 'D': {
          const vr = rowVr(rows, r);
          out = WRITABLE_VRS.has(vr) ? writeElementBytes({ tag, vr, value: rule?.value ?? '' }, enc) : null;
          break;
        }
        case 'U': {
          if (len === 0 || len === UNDEF) break;
          const element = mappedUidElement(ctx, tag, enc, valOff, len, rule === undefined);
          if (element) out = element;
          // the piece's index is known once it is appended (below)
          if (ctx.rec) uidRow = r, uidImplicit = rule === undefined;
          break;
        }
        case 'C': {
          if (len === 0 || len === UNDEF) break;
          let filtered: Uint8Array;
          try {
            // the reused buffer goes into the output by reference until the final copy: a second
            // CSA header before then (another private block, a nested call) must not patch it
            filtered = filterCsa(bytes.subarray(valOff, valOff + len), ctx.compiled.csaKeep);
          } catch (e) {
            if (!(e instanceof CsaParseError)) throw e;
            out = null; // unreadable: nobody can tell what it holds, so it does not leave
            if (ctx.rec) ctx.rec.replayable = false;
            break;
          }
          const vr = rowVr(rows, r) === 'UN' ? 'UN' : 'OB';
          if (filtered.length === 0 || filtered.length & 1) {
            // rare shapes the replay does not handle: such a file always takes the full path
            if (ctx.rec) ctx.rec.replayable = false;
            out = filtered.length === 0 ? null : writeElementBytes({ tag, vr, value: filtered }, enc);
          } else {
            // header + the filter's (reused) buffer as two pieces: copied once, into the output
            o.range(cursor, hdr);
            o.bytes(encodeHeader(tag, vr, filtered.length, enc));
            const piece = o.bytes(filtered);
            ctx.rec?.csa.push(r, piece, filtered.length);
            cursor = elEnd;
            changed = true;
          }
          break;
        }
        case 'K':
          // a sequence the caller asked to keep stays as it is, contents included
          if (flags & F_SEQ && !(flags & F_ENCAPS) && !ctx.keep.has(tag)) {
            const m = o.mark();
            const mEnd = o.lastEnd();
            o.range(cursor, hdr);
            if (rewriteSequence(ctx, w, r, enc, o)) {
              cursor = elEnd;
              changed = true;
            } else {
              o.reset(m, mEnd);
            }
          }
          break;
      }
    }
    const uidKind = (enc.explicit ? 1 : 0) | (enc.littleEndian ? 2 : 0) | (uidImplicit ? 4 : 0);
    if (out === undefined) {
      if (uidRow >= 0) {
        ctx.rec!.uids.push(uidRow, uidKind, -1, -1);
        pushUidBytes(ctx.rec!, bytes, valOff, len);
      }
      continue;
    }
    o.range(cursor, hdr);
    const piece = out ? o.bytes(out) : -1;
    if (uidRow >= 0) {
      const rec = ctx.rec!;
      let chain = -1;
      if (piece >= 0 && rec.open.length > 0) {
        chain = rec.chains.length;
        rec.chains.push(rec.open.slice());
      }
      rec.uids.push(uidRow, uidKind, piece, chain);
      pushUidBytes(rec, bytes, valOff, len);
    }
    cursor = elEnd;
    changed = true;
  }
  if (addIdx < adds.length) {
    o.range(cursor, end);
    cursor = end;
    while (addIdx < adds.length) o.bytes(addBytes[addIdx++]);
    changed = true;
  }
  if (!changed) return false;
  o.range(cursor, end);
  return true;
}

/**
 * Appends the new bytes of the sequence in row `r` (header to end) to `o` when any of its items
 * changed and returns true; otherwise appends nothing and returns false.
 */
function rewriteSequence(ctx: Ctx, w: Walk, r: number, enc: Enc, o: Out): boolean {
  const rows = w.rows;
  const so = r * ROW_WORDS;
  const seqFlags = rows[so + R_VRF] >>> 16;
  const seqEnd = rows[so + R_NEXT];
  const seqHdr = rows[so + R_HDR];
  const seqVal = rows[so + R_VAL];
  const seqUndef = rows[so + R_LEN] === UNDEF;
  const m0 = o.mark();
  const m0End = o.lastEnd();
  const headIdx = seqUndef ? -1 : o.bytes(NO_BYTES);
  if (seqUndef) o.range(seqHdr, seqVal);
  const rec = ctx.rec;
  const seqHdrId = rec && !seqUndef ? openHeader(rec) : -1;
  const bodyFrom = o.n;
  let changed = false;
  let cursor = seqVal;
  for (let k = r + 1; k < seqEnd; k = rows[k * ROW_WORDS + R_NEXT]) {
    const ko = k * ROW_WORDS;
    const itemFlags = rows[ko + R_VRF] >>> 16;
    const itemEnc: Enc = (seqFlags | itemFlags) & F_IMPLICIT || !enc.explicit
      ? (itemFlags & F_BE ? IMPLICIT_BE : IMPLICIT_LE)
      : itemFlags & F_BE ? EXPLICIT_BE : EXPLICIT_LE;
    const hdr = rows[ko + R_HDR];
    const val = rows[ko + R_VAL];
    const undef = rows[ko + R_LEN] === UNDEF;
    const itemEnd = rows[ko + R_END];
    const contentEnd = undef ? itemEnd - 8 : val + rows[ko + R_LEN];
    const m = o.mark();
    const mEnd = o.lastEnd();
    o.range(cursor, hdr);
    let itemHead = -1;
    if (undef) o.range(hdr, val);
    else itemHead = o.bytes(NO_BYTES);
    const itemFrom = o.n;
    const itemHdrId = rec && !undef ? openHeader(rec) : -1;
    if (!rewriteRows(ctx, w, k + 1, rows[ko + R_NEXT], val, contentEnd, false, itemEnc, o)) {
      o.reset(m, mEnd);
      if (itemHdrId >= 0) rec!.open.pop();
      continue;
    }
    if (undef) o.range(itemEnd - 8, itemEnd);
    else {
      const size = o.size(itemFrom);
      o.set(itemHead, encodeItemHeader(size, itemEnc.littleEndian));
      if (itemHdrId >= 0) {
        rec!.hdrs[itemHdrId] = { piece: itemHead, tag: -1, vr: '', enc: itemEnc, length: size };
        rec!.open.pop();
      }
    }
    cursor = itemEnd;
    changed = true;
  }
  if (!changed) {
    o.reset(m0, m0End);
    if (seqHdrId >= 0) rec!.open.pop();
    return false;
  }
  const end = rows[so + R_END];
  o.range(cursor, end);
  if (!seqUndef) {
    const size = o.size(bodyFrom);
    const tag = rows[so + R_TAG];
    const vr = rowVr(rows, r);
    o.set(headIdx, encodeHeader(tag, vr, size, enc));
    if (seqHdrId >= 0) {
      rec!.hdrs[seqHdrId] = { piece: headIdx, tag, vr, enc, length: size };
      rec!.open.pop();
    }
  }
  return true;
}

const EXPLICIT_LE: Enc = { explicit: true, littleEndian: true };
const EXPLICIT_BE: Enc = { explicit: true, littleEndian: false };
const IMPLICIT_LE: Enc = { explicit: false, littleEndian: true };
const IMPLICIT_BE: Enc = { explicit: false, littleEndian: false };
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
  parts.push(metaPart(`v${v}`, () => (version ? writeElementBytes({ tag: 0x00020001, vr: 'OB', value: version.slice() }, EXPLICIT_LE) : new Uint8Array(0))));
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
  const pending = csaPending;
  try {
    return rewrite(ds, options);
  } finally {
    csaPending = pending;
  }
}

// ---- the plans of previous calls ------------------------------------------------------------
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

interface PlanRec {
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

function pushUidBytes(rec: PlanRec, bytes: Uint8Array, start: number, len: number): void {
  const copy = bytes.slice(start, start + len);
  rec.uidBytes.push(copy);
  rec.uidViews.push(new DataView(copy.buffer));
}

function openHeader(rec: PlanRec): number {
  const id = rec.hdrs.length;
  rec.hdrs.push(null);
  rec.open.push(id);
  return id;
}

interface Plan {
  rows: Uint32Array;
  length: number;
  dataSetOffset: number;
  ts: string;
  explicit: boolean;
  littleEndian: boolean;
  profile: AnonymizationProfile;
  uids: UidMap;
  keepKey: string;
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

/** The filtered CSA image header; the first of an output may use the filter's reused buffer. */
function filterCsa(value: Uint8Array, keep: ReadonlySet<string>): Uint8Array {
  // the reused buffer goes into the output by reference until the final copy: a second CSA header
  // before then (another private block, a nested call) must not patch it
  if (csaPending) return filterCsaHeader(value, keep);
  const f = filterCsaHeaderReused(value, keep);
  csaPending = true;
  return f;
}

function planMatches(p: Plan, ds: DicomDataset, profile: AnonymizationProfile, uids: UidMap, keepKey: string, enc: Enc): boolean {
  if (p.profile !== profile || p.uids !== uids || p.keepKey !== keepKey) return false;
  if (p.length !== ds.bytes.length || p.dataSetOffset !== ds.dataSetOffset || p.ts !== ds.transferSyntaxUID) return false;
  if (p.explicit !== enc.explicit || p.littleEndian !== enc.littleEndian) return false;
  const a = p.rows;
  const b = ds._s.rows;
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return sameWords(a, b);
}

type NodeBuffer = { from(b: ArrayBufferLike, o: number, n: number): { equals(x: unknown): boolean } };
const NodeBuf = (globalThis as { Buffer?: NodeBuffer }).Buffer;
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

const metaVals = new Int32Array(10);
let metaMemo: { ts: string; uids: UidMap; profile: AnonymizationProfile; keepKey: string; key: Int32Array; bytes: Uint8Array } | null = null;

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
  const cacheable = planCacheEnabled && ts !== DEFLATED_EXPLICIT_VR_LE;
  let o: Out | null = null;
  let dataLength = 0;
  let found = -1;
  if (cacheable) for (let i = plans.length - 1; i >= 0 && found < 0; i--) if (planMatches(plans[i], ds, profile, uids, keepKey, enc)) found = i;
  if (found >= 0) {
    const entryPending = csaPending;
    // out of the list until the replay has re-derived every value-dependent piece
    const plan = plans.splice(found, 1)[0];
    if (replay(plan, ctx, w.rows)) {
      o = plan.out;
      dataLength = plan.dataLength;
      plans.push(plan);
      planStats.replayed++;
    } else {
      csaPending = entryPending;
    }
  }
  if (!o) {
    o = new Out();
    const rec: PlanRec | null = cacheable ? { creators: [], defined: [], uids: [], uidBytes: [], uidViews: [], chains: [], hdrs: [], open: [], csa: [], replayable: true } : null;
    ctx.rec = rec;
    if (!rewriteRows(ctx, w, 0, w.rows.length / ROW_WORDS, start, src.length, true, enc, o)) o.range(start, src.length);
    ctx.rec = null;
    dataLength = o.size(0);
    planStats.full++;
    if (rec && rec.replayable) {
      if (plans.length >= MAX_PLANS) plans.shift();
      plans.push({ rows: w.rows, length: src.length, dataSetOffset: start, ts, explicit: enc.explicit, littleEndian: enc.littleEndian, profile, uids, keepKey, out: o, dataLength, rec });
    }
  }

  // the few meta and identity values needed, read from the top-level rows (no index, no decoding)
  const rows = w.rows;
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
  if (planCacheEnabled && memo && memo.ts === ts && memo.uids === uids && memo.profile === profile && memo.keepKey === keepKey) {
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
      const action = keep.has(0x00020003) ? 'K' : ctx.compiled.rules.get(0x00020003)?.action ?? 'K';
      if (action === 'U' && inst !== '') inst = ctx.uids.map(inst);
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

  let data: Uint8Array;
  if (ts === DEFLATED_EXPLICIT_VR_LE) {
    const plain = new Uint8Array(dataLength);
    o.copy(src, plain, 0);
    data = deflateSync(plain, { level: 6 });
    const total = 132 + metaBytes.length + data.length;
    const out = options.output && options.output.length >= total ? options.output.subarray(0, total) : new Uint8Array(total);
    out.fill(0, 0, 128);
    out.set([0x44, 0x49, 0x43, 0x4d], 128);
    out.set(metaBytes, 132);
    out.set(data, 132 + metaBytes.length);
    return out;
  }
  const total = 132 + metaBytes.length + dataLength;
  const out = options.output && options.output.length >= total ? options.output.subarray(0, total) : new Uint8Array(total);
  out.fill(0, 0, 128);
  out.set([0x44, 0x49, 0x43, 0x4d], 128);
  out.set(metaBytes, 132);
  o.copy(src, out, 132 + metaBytes.length);
  return out;
}
