// parseDicom / isComplete and the lazy DicomDataset view over the walker's element table.
import { Inflate } from 'fflate';
import { keywordOf, parseTagKey, rawVrOf, resolveVr, tagHex } from './dictionary.js';
import { privateEntriesOf, privateEntry, type PrivateEntry } from './private-dictionary.js';
import { DicomParseError } from './errors.js';
import { ownCopy } from './node-buffer.js';
import { EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, syntaxOf, type DataSetEncoding } from './transfer-syntax.js';
import { charsetLabel, decodeText, decodeValue, type DicomValue } from './values.js';
import { STANDARD_VRS } from './vr.js';
import {
  F_BE, F_ENCAPS, F_FRAGMENT, F_IMPLICIT, F_ITEM, F_META, F_SEQ, F_UNDEF, MODE_BIG_ENDIAN, MODE_EXPLICIT, MODE_META,
  R_END, R_HDR, R_LEN, R_NEXT, R_PARENT, R_TAG, R_VAL, R_VRF, ROW_WORDS, Walk,
} from './wasm.js';

const TAG_PIXEL_DATA = 0x7fe00010;

export interface ParseOptions {
  /**
   * Upper bound on the inflated size of a deflated data set: a zip bomb fails with a
   * DicomParseError instead of growing. Default: INFLATE_LIMITS (min(256 MiB, max(64 MiB,
   * 100 x the deflated bytes))).
   */
  maxInflatedBytes?: number;
}

/**
 * Default bounds of a deflated data set's inflated size. Real deflated MR objects inflate 2-10x
 * (an image with a blank background rarely more than ~50x); a bomb inflates ~1000x. The floor
 * keeps small, highly compressible objects readable; the absolute cap bounds memory and time
 * (256 MiB inflates in ~0.3 s here).
 */
export const INFLATE_LIMITS = { ratio: 100, floorBytes: 64 << 20, maxBytes: 256 << 20 } as const;

export function defaultInflateLimit(deflatedBytes: number): number {
  return Math.min(INFLATE_LIMITS.maxBytes, Math.max(INFLATE_LIMITS.floorBytes, INFLATE_LIMITS.ratio * deflatedBytes));
}

/** One element of a data set. Offsets index `dataset.bytes`. */
export interface DicomElement {
  tag: number;
  /** '00100010' */
  tagHex: string;
  /** VR from the stream (explicit VR) or the dictionary (implicit VR; 'UN' when unknown) */
  vr: string;
  keyword: string | undefined;
  isPrivate: boolean;
  /** decoded on access (see values.ts); SQ -> DicomDataset[]; encapsulated pixel data -> fragments */
  readonly value: unknown;
  /** offset of the tag */
  headerOffset: number;
  /** offset of the first value byte */
  valueOffset: number;
  /** value length as encoded; -1 for undefined length */
  length: number;
  /** offset just past the element, including its sequence delimiter when it has one */
  end: number;
  /** sequence items (SQ, or an undefined-length UN holding a sequence) */
  items?: DicomDataset[];
  /** encapsulated pixel data: the fragments after the basic offset table */
  fragments?: Uint8Array[];
  /** encapsulated pixel data: the basic offset table item's bytes (often empty) */
  offsetTable?: Uint8Array;
  /** the element's encoded bytes, header to `end` (delimiters included): a view, no copy */
  readonly raw: Uint8Array;
  /** true when encoded with undefined length (same as length === -1) */
  readonly undefinedLength: boolean;
}

interface Shared {
  bytes: Uint8Array;
  original: Uint8Array;
  rows: Uint32Array;
  transferSyntaxUID: string;
  dataSetOffset: number;
  /** preamble/DICM or a meta group was found */
  partTen: boolean;
  /** the data set's actual encoding (a file may say explicit VR and be implicit) */
  explicit: boolean;
  bigEndian: boolean;
  /** TextDecoder label from SpecificCharacterSet ('' = default repertoire) */
  charset?: string;
  pixelRepresentation?: number;
  root?: DicomDataset;
  /** private creators by data set (its item row, or -1 for the root): creator tag -> creator text */
  creators?: Map<number, Map<number, string>>;
}

export type PixelData =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

function u16le(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/** Guesses the encoding of a bare data set (no meta) from its first element header. */
function guessSyntax(b: Uint8Array, o: number): { explicit: boolean; bigEndian: boolean } | undefined {
  if (b.length - o < 8) return undefined;
  const le = u16le(b, o);
  const be = (b[o] << 8) | b[o + 1];
  const vr = String.fromCharCode(b[o + 4], b[o + 5]);
  const explicit = STANDARD_VRS.has(vr);
  const bigEndian = explicit && be < le;
  const group = bigEndian ? be : le;
  // a data set starts with one of the low groups (0008 in practice); anything else is not DICOM
  if (group < 0x0002 || group > 0x0028 || group & 1) return undefined;
  return { explicit, bigEndian };
}

function inflateCapped(data: Uint8Array, max: number, at: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let failed: unknown;
  const inf = new Inflate((chunk) => {
    total += chunk.length;
    if (total > max) throw new DicomParseError('inflated data set too large', at, `more than ${max} bytes`);
    parts.push(chunk);
  });
  try {
    // pushed in slices so the size cap stops a bomb early
    const step = 1 << 16;
    for (let o = 0; o < data.length; o += step) inf.push(data.subarray(o, o + step), o + step >= data.length);
    if (data.length === 0) inf.push(new Uint8Array(0), true);
  } catch (e) {
    failed = e;
  }
  if (failed instanceof DicomParseError) throw failed;
  if (failed) throw new DicomParseError('invalid deflate stream', at, String((failed as Error).message ?? failed));
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * Parses DICOM Part 10 bytes (or a bare data set). Synchronous; the module instantiates on first
 * use if `ready()` was not awaited. Values are decoded lazily from `bytes`, which must not change
 * while the dataset is used. Throws DicomParseError (and nothing else) for bad input.
 */
export function parseDicom(bytes: Uint8Array, options: ParseOptions = {}): DicomDataset {
  if (!(bytes instanceof Uint8Array)) throw new DicomParseError('input is not a Uint8Array', 0);
  try {
    return parseInner(bytes, options);
  } catch (e) {
    if (e instanceof DicomParseError) throw e;
    // a wrapper bug must still honour the contract; keep the cause for debugging
    const err = new DicomParseError('internal error', 0, String((e as Error)?.message ?? e));
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}

function parseInner(bytes: Uint8Array, options: ParseOptions): DicomDataset {
  const n = bytes.length;
  let start: number;
  let hasMeta = true;
  if (n >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) start = 132;
  else if (n >= 4 && bytes[0] === 0x44 && bytes[1] === 0x49 && bytes[2] === 0x43 && bytes[3] === 0x4d) start = 4;
  else if (n >= 8 && u16le(bytes, 0) === 0x0002) start = 0;
  else {
    hasMeta = false;
    start = 0;
  }
  let walk: Walk;
  let src = bytes;
  let transferSyntaxUID: string;
  let dataSetOffset: number;
  let explicit: boolean;
  let bigEndian: boolean;
  if (hasMeta) {
    walk = new Walk(start, MODE_META | MODE_EXPLICIT);
    walk.run(src);
    // the walker stops at the first element outside group 0002 (or at the end of the bytes)
    dataSetOffset = walk.pos();
    const metaRows = walk.rows();
    let uid: string | undefined;
    for (let r = 0; r < metaRows.length; r += ROW_WORDS) {
      if (metaRows[r + R_TAG] === 0x00020010) {
        const v = metaRows[r + R_VAL];
        uid = decodeText(bytes, v, v + metaRows[r + R_LEN], false).replace(/[\0 ]+$/, '').trim();
      }
    }
    let syntax: DataSetEncoding;
    if (uid) {
      syntax = syntaxOf(uid);
      transferSyntaxUID = uid;
    } else {
      // no transfer syntax in the meta: the encoding the first element shows, else implicit VR
      // little endian (DICOM's default transfer syntax; pydicom assumes it too)
      const g = guessSyntax(bytes, dataSetOffset) ?? { explicit: false, bigEndian: false };
      syntax = { ...g, deflated: false };
      transferSyntaxUID = g.explicit ? (g.bigEndian ? EXPLICIT_VR_BE : EXPLICIT_VR_LE) : IMPLICIT_VR_LE;
    }
    // a data set that says explicit VR but carries no VR where one must be is implicit (seen in the wild)
    if (syntax.explicit && !syntax.bigEndian && !syntax.deflated && n - dataSetOffset >= 8 &&
        !STANDARD_VRS.has(String.fromCharCode(bytes[dataSetOffset + 4], bytes[dataSetOffset + 5])) &&
        guessSyntax(bytes, dataSetOffset)?.explicit === false) {
      syntax = { explicit: false, bigEndian: false, deflated: false };
    }
    explicit = syntax.explicit;
    bigEndian = syntax.bigEndian;
    if (syntax.deflated && dataSetOffset < n) {
      const inflated = inflateCapped(bytes.subarray(dataSetOffset), options.maxInflatedBytes ?? defaultInflateLimit(n - dataSetOffset), dataSetOffset);
      src = new Uint8Array(dataSetOffset + inflated.length);
      src.set(bytes.subarray(0, dataSetOffset));
      src.set(inflated, dataSetOffset);
    }
    walk.setSyntax(syntax.explicit, syntax.bigEndian);
    if (dataSetOffset < src.length) {
      const cut = runDataSet(walk, src, src === bytes);
      if (cut >= 0) return parseAtPadding(bytes, cut, options);
    }
  } else {
    const g = guessSyntax(bytes, 0);
    if (!g) throw new DicomParseError(n < 132 ? 'too short or not DICOM' : 'not DICOM (no DICM prefix and no data set start)', 0);
    transferSyntaxUID = g.explicit ? (g.bigEndian ? EXPLICIT_VR_BE : EXPLICIT_VR_LE) : IMPLICIT_VR_LE;
    explicit = g.explicit;
    bigEndian = g.bigEndian;
    dataSetOffset = 0;
    walk = new Walk(0, (g.explicit ? MODE_EXPLICIT : 0) | (g.bigEndian ? MODE_BIG_ENDIAN : 0));
    const cut = runDataSet(walk, src, true);
    if (cut >= 0) return parseAtPadding(bytes, cut, options);
  }
  const rows = walk.rows();
  if (src === bytes) {
    const cut = paddingCut(rows, src);
    if (cut >= 0) return parseAtPadding(bytes, cut, options);
  }
  const shared: Shared = { bytes: src, original: bytes, rows, transferSyntaxUID, dataSetOffset, partTen: hasMeta, explicit, bigEndian };
  const root = new DicomDataset(shared, 0, shared.rows.length / ROW_WORDS, -1);
  shared.root = root;
  return root;
}

/**
 * Trailing zero padding. Some writers (and preallocated, zero-filled files) leave zero bytes after
 * the data set. They cannot be told from a cut file in general, so they count as padding only in
 * one case: the data set's last top-level element is a complete PixelData (7FE0,0010) and every
 * byte after it is zero. Such a file parses as if it ended there (and `isComplete` is true).
 * Anything else after the pixel data, or zeros after any other element, is still an error: a
 * file cut between two elements, or inside a value, stays incomplete.
 *
 * Runs the data-set walk; on an error, returns where padding starts when the rule applies (the
 * caller parses the bytes up to there) or rethrows. Returns -1 when the walk succeeded.
 * `mayTrim` is false for inflated data sets (zeros after a deflate stream never reach the walk).
 */
function runDataSet(walk: Walk, src: Uint8Array, mayTrim: boolean): number {
  try {
    walk.run(src);
    return -1;
  } catch (e) {
    if (!(e instanceof DicomParseError) || !mayTrim) throw e;
    const cut = paddingCut(walk.rows(), src);
    if (cut < 0) throw e;
    return cut;
  }
}

/**
 * Where zero padding after the pixel data starts, or -1. Rows after the pixel data that are
 * themselves zero bytes (implicit VR reads 8 zero bytes as an empty (0000,0000)) are padding too.
 * For a walk that failed, the rows of the element it failed in have no trustworthy end: the
 * re-parse up to the cut decides (parseAtPadding).
 */
function paddingCut(rows: Uint32Array, src: Uint8Array): number {
  const n = src.length;
  if (n === 0 || src[n - 1] !== 0) return -1;
  let cut = -1;
  for (let o = rows.length - ROW_WORDS; o >= 0; o -= ROW_WORDS) {
    if (rows[o + R_PARENT] !== 0xffffffff) continue;
    const tag = rows[o + R_TAG];
    if (tag === 0 && rows[o + R_LEN] === 0) continue;
    if (tag === TAG_PIXEL_DATA) cut = rows[o + R_END];
    break;
  }
  if (cut <= 0 || cut >= n) return -1;
  for (let i = cut; i < n; i++) if (src[i] !== 0) return -1;
  return cut;
}

/**
 * Parses `bytes` up to `cut` (see runDataSet). The result must end in pixel data that is whole:
 * encapsulated (its end is the delimiter, which is not zeros), or native with at least the length
 * the image description asks for. Without that check a preallocated, zero-filled file whose
 * PixelData length field is half written (e.g. 0x00048000 read as 0x00008000) would pass.
 */
function parseAtPadding(bytes: Uint8Array, cut: number, options: ParseOptions): DicomDataset {
  const ds = parseInner(bytes.subarray(0, cut), options);
  const px = ds.get(TAG_PIXEL_DATA);
  if (!(px instanceof Uint8Array) && !Array.isArray(px)) throw new DicomParseError('zero bytes after the data set do not follow its pixel data', cut);
  if (px instanceof Uint8Array) {
    const num = (k: number, dflt?: number): number => {
      const v = ds.get(k);
      const x = Array.isArray(v) ? v[0] : v;
      return typeof x === 'number' && Number.isFinite(x) ? x : dflt ?? NaN;
    };
    const bits = num(0x00280100) * num(0x00280010) * num(0x00280011) * num(0x00280002, 1) * num(0x00280008, 1);
    if (!(px.length >= Math.ceil(bits / 8))) throw new DicomParseError('zero bytes after pixel data shorter than the image', cut);
  }
  return ds;
}

/** A data set (the file's, or a sequence item's): a view over the element table; nothing is decoded until asked. */
export class DicomDataset {
  /** @internal */ readonly _s: Shared;
  /** @internal */ readonly _first: number;
  /** @internal */ readonly _end: number;
  /** @internal */ readonly _itemRow: number;
  private index?: Map<number, number>;

  /** @internal use parseDicom */
  constructor(shared: Shared, firstRow: number, endRow: number, itemRow: number) {
    this._s = shared;
    this._first = firstRow;
    this._end = endRow;
    this._itemRow = itemRow;
  }

  /** The buffer every offset refers to: the caller's bytes, or for deflated files the meta followed by the inflated data set. */
  get bytes(): Uint8Array { return this._s.bytes; }
  /** From the file meta (0002,0010); for bare data sets the guessed implicit/explicit LE/BE UID. */
  get transferSyntaxUID(): string { return this._s.transferSyntaxUID; }
  /** Offset in `bytes` where the data set starts (after preamble and meta). */
  get dataSetOffset(): number { return this._s.dataSetOffset; }
  /** True when this is a sequence item rather than the file's data set. */
  get isItem(): boolean { return this._itemRow >= 0; }
  /** Item: offset of its (FFFE,E000) header; root: 0. */
  get headerOffset(): number { return this._itemRow < 0 ? 0 : this._s.rows[this._itemRow * ROW_WORDS + R_HDR]; }
  /** Item: first byte of its contents; root: dataSetOffset. */
  get valueOffset(): number { return this._itemRow < 0 ? this._s.dataSetOffset : this._s.rows[this._itemRow * ROW_WORDS + R_VAL]; }
  /** Item: encoded length (-1 = undefined); root: length of the data set. */
  get length(): number {
    if (this._itemRow < 0) return this._s.bytes.length - this._s.dataSetOffset;
    const l = this._s.rows[this._itemRow * ROW_WORDS + R_LEN];
    return l === 0xffffffff ? -1 : l;
  }
  /** Item: offset just past it, including its item delimiter; root: bytes.length. */
  get end(): number { return this._itemRow < 0 ? this._s.bytes.length : this._s.rows[this._itemRow * ROW_WORDS + R_END]; }
  /** Encoding of this data set's elements (an item inside an undefined-length UN is implicit VR LE). */
  get explicitVR(): boolean {
    const rows = this._s.rows;
    for (let r = this._itemRow; r >= 0 && r !== 0xffffffff; r = rows[r * ROW_WORDS + R_PARENT]) {
      if ((rows[r * ROW_WORDS + R_VRF] >>> 16) & F_IMPLICIT) return false;
    }
    return this._s.explicit;
  }
  get littleEndian(): boolean {
    if (this._itemRow < 0) return !this._s.bigEndian;
    return !((this._s.rows[this._itemRow * ROW_WORDS + R_VRF] >>> 16) & F_BE);
  }

  /** File meta elements (group 0002) as their own data set; they are also in the root's elements(). */
  get meta(): DicomDataset {
    const rows = this._s.rows;
    let end = 0;
    while (end < rows.length / ROW_WORDS && (rows[end * ROW_WORDS + R_VRF] >>> 16) & F_META) end++;
    return new DicomDataset(this._s, 0, end, -1);
  }

  private lookup(key: string | number): number {
    const tag = parseTagKey(key);
    if (tag === undefined) return typeof key === 'string' ? this.lookupPrivate(key) : -1;
    if (!this.index) {
      const m = new Map<number, number>();
      const rows = this._s.rows;
      for (let r = this._first; r < this._end; r = rows[r * ROW_WORDS + R_NEXT]) {
        const t = rows[r * ROW_WORDS + R_TAG];
        if (!m.has(t)) m.set(t, r);
      }
      this.index = m;
    }
    return this.index.get(tag) ?? -1;
  }

  /** A private keyword ('MosaicRefAcqTimes'): the element in the block its creator reserved here. */
  private lookupPrivate(keyword: string): number {
    const entries = privateEntriesOf(keyword);
    if (!entries) return -1;
    const creators = creatorsOf(this._s, this._itemRow < 0 ? -1 : this._itemRow, this._first, this._end);
    for (const e of entries) {
      for (const [ctag, text] of creators) {
        if (ctag >>> 16 !== e.group || text !== e.creator) continue;
        const r = this.lookup(((e.group << 16) | ((ctag & 0xff) << 8) | e.element) >>> 0);
        if (r >= 0) return r;
      }
    }
    return -1;
  }

  /** True when the element is present (keyword, '00100010', '(0010,0010)' or a tag number). */
  has(key: string | number): boolean {
    return this.lookup(key) >= 0;
  }

  /** The element, or undefined. */
  element(key: string | number): DicomElement | undefined {
    const r = this.lookup(key);
    return r < 0 ? undefined : new Element(this._s, r);
  }

  /** Decoded value (see DicomElement.value), or undefined when absent. */
  get(key: string | number): unknown {
    const r = this.lookup(key);
    return r < 0 ? undefined : elementValue(this._s, r);
  }

  /** Typed-value convenience for `get` when the caller knows the type. */
  getString(key: string | number): string | undefined {
    const v = this.get(key);
    return Array.isArray(v) ? v.join('\\') : v === undefined ? undefined : String(v);
  }
  getNumber(key: string | number): number | undefined {
    const v = this.get(key);
    const x = Array.isArray(v) ? v[0] : v;
    return typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : undefined;
  }

  /** The elements in file order (meta elements first, for the root of a Part-10 file). */
  *elements(): IterableIterator<DicomElement> {
    const rows = this._s.rows;
    for (let r = this._first; r < this._end; r = rows[r * ROW_WORDS + R_NEXT]) yield new Element(this._s, r);
  }

  /** Number of elements directly in this data set. */
  get size(): number {
    let n = 0;
    const rows = this._s.rows;
    for (let r = this._first; r < this._end; r = rows[r * ROW_WORDS + R_NEXT]) n++;
    return n;
  }

  /**
   * Pixel data as a typed view: Uint16Array / Int16Array (BitsAllocated 16, PixelRepresentation
   * 0/1), Uint8Array / Int8Array (8), Uint32Array / Int32Array (32), Float32Array / Float64Array for
   * Float/DoubleFloatPixelData. No copy when the value is aligned and little endian; big-endian data
   * is copied and swapped. Encapsulated pixel data returns its fragments. undefined when absent.
   */
  pixelData(): PixelData | Uint8Array[] | undefined {
    const s = this._s;
    let r = this.lookup(TAG_PIXEL_DATA);
    let kind = 0;
    if (r < 0) { r = this.lookup(0x7fe00008); kind = 1; }
    if (r < 0) { r = this.lookup(0x7fe00009); kind = 2; }
    if (r < 0) return undefined;
    const o = r * ROW_WORDS;
    const flags = s.rows[o + R_VRF] >>> 16;
    if (flags & F_ENCAPS) return encapsulated(s, r).fragments;
    const off = s.rows[o + R_VAL];
    const len = s.rows[o + R_LEN];
    const bits = kind === 1 ? 32 : kind === 2 ? 64 : this.getNumber('BitsAllocated') ?? 16;
    const signed = this.getNumber('PixelRepresentation') === 1;
    const size = bits === 8 ? 1 : bits === 16 ? 2 : bits === 32 ? 4 : bits === 64 ? 8 : 0;
    const b = s.bytes;
    if (size === 0) return b.subarray(off, off + len); // 1-bit or odd sizes: raw bytes
    const Ctor = kind === 1 ? Float32Array : kind === 2 ? Float64Array
      : size === 1 ? (signed ? Int8Array : Uint8Array)
      : size === 2 ? (signed ? Int16Array : Uint16Array)
      : size === 4 ? (signed ? Int32Array : Uint32Array) : Float64Array;
    const count = Math.floor(len / size);
    const bigEndian = (flags & F_BE) !== 0;
    if (!bigEndian && (b.byteOffset + off) % size === 0) return new Ctor(b.buffer as ArrayBuffer, b.byteOffset + off, count);
    const copy = ownCopy(b, off, off + count * size);
    if (bigEndian && size > 1) {
      for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
    }
    return new Ctor(copy.buffer, 0, count);
  }

  /**
   * Part-10 bytes. Unmodified datasets return the caller's original bytes (for deflated files: the
   * original deflated file); an item returns the raw bytes of its contents.
   */
  toBytes(): Uint8Array {
    if (this._itemRow < 0) return this._s.original;
    return this._s.bytes.subarray(this.valueOffset, this.contentEnd());
  }

  private contentEnd(): number {
    const o = this._itemRow * ROW_WORDS;
    const rows = this._s.rows;
    return rows[o + R_LEN] === 0xffffffff ? rows[o + R_END] - 8 : rows[o + R_END];
  }
}

function encapsulated(s: Shared, r: number): { offsetTable: Uint8Array; fragments: Uint8Array[] } {
  const rows = s.rows;
  const fragments: Uint8Array[] = [];
  let offsetTable: Uint8Array = new Uint8Array(0);
  let first = true;
  const end = rows[r * ROW_WORDS + R_NEXT];
  for (let k = r + 1; k < end; k = rows[k * ROW_WORDS + R_NEXT]) {
    const v = rows[k * ROW_WORDS + R_VAL];
    const view = s.bytes.subarray(v, v + rows[k * ROW_WORDS + R_LEN]);
    if (first) offsetTable = view; else fragments.push(view);
    first = false;
  }
  return { offsetTable, fragments };
}

function items(s: Shared, r: number): DicomDataset[] {
  const rows = s.rows;
  const out: DicomDataset[] = [];
  const end = rows[r * ROW_WORDS + R_NEXT];
  for (let k = r + 1; k < end; k = rows[k * ROW_WORDS + R_NEXT]) out.push(new DicomDataset(s, k + 1, rows[k * ROW_WORDS + R_NEXT], k));
  return out;
}

function charsetOf(s: Shared): string {
  if (s.charset === undefined) {
    s.charset = ''; // SpecificCharacterSet itself is ASCII: decode it as such
    s.charset = charsetLabel(s.root?.get(0x00080005));
  }
  return s.charset;
}

/** The private creators of one data set (rows [first, end) under item row `item`, -1 = root). */
function creatorsOf(s: Shared, item: number, first: number, end: number): Map<number, string> {
  const all = (s.creators ??= new Map());
  let m = all.get(item);
  if (m) return m;
  m = new Map();
  const rows = s.rows;
  for (let r = first; r < end; r = rows[r * ROW_WORDS + R_NEXT]) {
    const tag = rows[r * ROW_WORDS + R_TAG];
    const el = tag & 0xffff;
    if (!((tag >>> 16) & 1) || el < 0x10 || el > 0xff) continue;
    const v = rows[r * ROW_WORDS + R_VAL];
    const len = rows[r * ROW_WORDS + R_LEN];
    if (len === 0xffffffff || len > 64) continue;
    m.set(tag, decodeText(s.bytes, v, v + len, false).replace(/[\0 ]+$/, '').trim());
  }
  all.set(item, m);
  return m;
}

/** The private dictionary entry of a private element row, when its block's creator is known. */
function privateEntryOfRow(s: Shared, r: number): PrivateEntry | undefined {
  const rows = s.rows;
  const tag = rows[r * ROW_WORDS + R_TAG];
  const group = tag >>> 16;
  const el = tag & 0xffff;
  if (!(group & 1) || el < 0x1000) return undefined;
  const parent = rows[r * ROW_WORDS + R_PARENT];
  const item = parent === 0xffffffff ? -1 : parent;
  const first = item < 0 ? 0 : item + 1;
  const end = item < 0 ? rows.length / ROW_WORDS : rows[item * ROW_WORDS + R_NEXT];
  const creator = creatorsOf(s, item, first, end).get(((group << 16) | (el >>> 8)) >>> 0);
  return creator === undefined ? undefined : privateEntry(creator, group, el & 0xff);
}

function vrOfRow(s: Shared, r: number): string {
  const vrf = s.rows[r * ROW_WORDS + R_VRF];
  const a = vrf & 0xff, b = (vrf >>> 8) & 0xff;
  if (a !== 0) return String.fromCharCode(a, b);
  return vrOfImplicit(s, r);
}

function vrOfImplicit(s: Shared, r: number): string {
  const vrf = s.rows[r * ROW_WORDS + R_VRF];
  const flags = vrf >>> 16;
  const tag = s.rows[r * ROW_WORDS + R_TAG];
  if (flags & F_SEQ && !(flags & F_ENCAPS)) return 'SQ';
  const raw = rawVrOf(tag);
  if (raw === 'xs') {
    if (s.pixelRepresentation === undefined) {
      const pr = s.root?.get(0x00280103);
      s.pixelRepresentation = typeof pr === 'number' ? pr : 0;
    }
    return s.pixelRepresentation === 1 ? 'SS' : 'US';
  }
  if (raw !== undefined) return resolveVr(raw) ?? 'UN';
  if ((tag & 0xffff) === 0) return 'UL'; // group length
  const group = tag >>> 16;
  const el = tag & 0xffff;
  if (group & 1 && el >= 0x10 && el <= 0xff) return 'LO'; // private creator
  if (group & 1) {
    const e = privateEntryOfRow(s, r);
    if (e && e.vr !== 'SQ' && e.vr !== 'UN') return e.vr;
  }
  return 'UN';
}

function elementValue(s: Shared, r: number): unknown {
  const o = r * ROW_WORDS;
  const flags = s.rows[o + R_VRF] >>> 16;
  if (flags & F_ENCAPS) return encapsulated(s, r).fragments;
  if (flags & F_SEQ) return items(s, r);
  let vr = vrOfRow(s, r);
  if (vr === 'UN') {
    // a standard attribute stored as UN (explicit VR, or private-looking): decode by its dictionary VR;
    // a private one by the private dictionary when its creator is known
    const dict = resolveVr(rawVrOf(s.rows[o + R_TAG]) ?? 'UN');
    if (dict && dict !== 'SQ' && dict !== 'UN') vr = dict === 'US' && rawVrOf(s.rows[o + R_TAG]) === 'xs' ? vrOfImplicit(s, r) : dict;
    else if ((s.rows[o + R_TAG] >>> 16) & 1) {
      const el = s.rows[o + R_TAG] & 0xffff;
      if (el >= 0x10 && el <= 0xff) vr = 'LO'; // a private creator
      else {
        const e = privateEntryOfRow(s, r);
        if (e && e.vr !== 'SQ' && e.vr !== 'UN') vr = e.vr;
      }
    }
  }
  return decodeValue(vr, s.bytes, s.rows[o + R_VAL], s.rows[o + R_LEN], !(flags & F_BE), charsetOf(s)) as DicomValue;
}

class Element implements DicomElement {
  private readonly s: Shared;
  private readonly r: number;
  constructor(s: Shared, r: number) {
    this.s = s;
    this.r = r;
  }
  get tag(): number { return this.s.rows[this.r * ROW_WORDS + R_TAG]; }
  get tagHex(): string { return tagHex(this.tag); }
  get vr(): string { return vrOfRow(this.s, this.r); }
  /** The standard keyword, or for a private element of a known creator its private keyword. */
  get keyword(): string | undefined { return keywordOf(this.tag) ?? (privateEntryOfRow(this.s, this.r)?.keyword || undefined); }
  get isPrivate(): boolean { return ((this.tag >>> 16) & 1) === 1; }
  get value(): unknown { return elementValue(this.s, this.r); }
  get headerOffset(): number { return this.s.rows[this.r * ROW_WORDS + R_HDR]; }
  get valueOffset(): number { return this.s.rows[this.r * ROW_WORDS + R_VAL]; }
  get length(): number {
    const l = this.s.rows[this.r * ROW_WORDS + R_LEN];
    return l === 0xffffffff ? -1 : l;
  }
  get end(): number { return this.s.rows[this.r * ROW_WORDS + R_END]; }
  get undefinedLength(): boolean { return ((this.s.rows[this.r * ROW_WORDS + R_VRF] >>> 16) & F_UNDEF) !== 0; }
  get items(): DicomDataset[] | undefined {
    const f = this.s.rows[this.r * ROW_WORDS + R_VRF] >>> 16;
    return f & F_SEQ ? items(this.s, this.r) : undefined;
  }
  get fragments(): Uint8Array[] | undefined {
    const f = this.s.rows[this.r * ROW_WORDS + R_VRF] >>> 16;
    return f & F_ENCAPS ? encapsulated(this.s, this.r).fragments : undefined;
  }
  get offsetTable(): Uint8Array | undefined {
    const f = this.s.rows[this.r * ROW_WORDS + R_VRF] >>> 16;
    return f & F_ENCAPS ? encapsulated(this.s, this.r).offsetTable : undefined;
  }
  /** The element's encoded bytes, header to end (delimiters included). */
  get raw(): Uint8Array { return this.s.bytes.subarray(this.headerOffset, this.end); }
  toJSON(): object {
    return { tag: this.tagHex, vr: this.vr, keyword: this.keyword, headerOffset: this.headerOffset, valueOffset: this.valueOffset, length: this.length, end: this.end };
  }
}

// non-image storage classes: no pixel data expected (SR, presentation states, waveforms, raw data and
// registrations, encapsulated documents, spectroscopy, RT objects other than RT Image and RT Dose)
const NON_IMAGE_SOP = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(88|11|9|66|104|4\.2$|481\.(?![12]$))/;

/**
 * Whether `bytes` hold a whole file rather than one still being written. Never throws.
 * False when the walk fails anywhere (truncated meta, element header, value, sequence, item,
 * fragments), when a Part-10 file has no data set, and when an image (Rows present, or an image
 * storage SOP class in the meta or data set) has no pixel data yet. A bare data set of a non-image
 * object cut exactly between two elements cannot be told from a whole one.
 */
export function isComplete(bytes: Uint8Array): boolean {
  try {
    if (!(bytes instanceof Uint8Array)) return false;
    const ds = parseDicom(bytes);
    return wholeEnough(ds);
  } catch {
    return false;
  }
}

function wholeEnough(ds: DicomDataset): boolean {
  const rows = ds._s.rows;
  let hasData = false;
  let hasPixels = false;
  let hasRows = false;
  for (let r = 0; r < rows.length / ROW_WORDS; r = rows[r * ROW_WORDS + R_NEXT]) {
    const tag = rows[r * ROW_WORDS + R_TAG];
    if ((rows[r * ROW_WORDS + R_VRF] >>> 16) & F_META) continue;
    hasData = true;
    if (tag === 0x00280010) hasRows = true;
    if (tag === TAG_PIXEL_DATA || tag === 0x7fe00008 || tag === 0x7fe00009) hasPixels = true;
  }
  if (ds._s.partTen && !hasData) return false;
  if (hasPixels) return true;
  if (hasRows) return false;
  const sop = ds.get(0x00020002) ?? ds.get(0x00080016);
  if (typeof sop === 'string' && sop.startsWith('1.2.840.10008.5.1.4.1.1.') && !NON_IMAGE_SOP.test(sop)) return false;
  return true;
}

export { F_FRAGMENT, F_ITEM };
