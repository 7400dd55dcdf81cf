// DICOM Part-10 writer. It generates the files the parser's tests run on (every transfer syntax,
// VR, sequence shape), the synthetic EPI series of the demo, and the anonymizer's small re-encoded
// elements. It is plain TypeScript: writing is a sequence of small headers plus a few large copies.

import { deflateSync } from 'fflate';
import { tagHex, tagOf } from './dictionary.js';
import { syntaxOf } from './transfer-syntax.js';
import { LONG_VRS, SINGLE_TEXT_VRS, STANDARD_VRS, TEXT_VRS } from './vr.js';
import type { PlainValue } from './values.js';

/** Our implementation class UID (a UUID-derived 2.25 root, so no registered root is needed). */
export const IMPLEMENTATION_CLASS_UID = '2.25.173298612479347102954384530170845137221';
export const IMPLEMENTATION_VERSION_NAME = 'RTFMRI_0_1';

export interface WriteItem {
  elements: WriteElement[];
  undefinedLength?: boolean;
}

/** Encapsulated (compressed) pixel data: a basic offset table item followed by one item per fragment. */
export interface EncapsulatedValue {
  readonly encapsulated: true;
  fragments: Uint8Array[];
  /** Basic offset table entries; `[]` writes an empty table. */
  offsets: number[];
}

export type WriteValue =
  | PlainValue
  | ArrayBufferView
  | WriteItem[]
  | EncapsulatedValue
  | null
  | undefined;

export interface WriteElement {
  /** 0x00100010, '00100010', '(0010,0010)', '0010,0010' or a keyword ('PatientName'). */
  tag: number | string;
  vr: string;
  value: WriteValue;
  /** SQ (and UN holding implicit-VR items): write an undefined length and a delimitation item. */
  undefinedLength?: boolean;
}

export interface WriteOptions {
  transferSyntaxUID: string;
  /** 128-byte preamble + 'DICM'. Default true when the file meta group is written. */
  preamble?: boolean;
  /** Group 0002 (always explicit VR little endian). Default true. */
  fileMeta?: boolean;
}

/**
 * `(FFFE,E000)` items for encapsulated pixel data. Without `offsets`, each fragment is one frame
 * and the basic offset table points at each fragment; pass `[]` for an empty table.
 */
export function encapsulated(fragments: Uint8Array[], offsets?: number[]): EncapsulatedValue {
  let table = offsets;
  if (!table) {
    table = [];
    let pos = 0;
    for (const f of fragments) {
      table.push(pos);
      pos += 8 + f.length + (f.length & 1);
    }
  }
  return { encapsulated: true, fragments, offsets: table };
}

/** Resolves a tag given as number, hex string, '(gggg,eeee)' or a keyword. */
export function resolveTag(tag: number | string): number {
  if (typeof tag === 'number') {
    if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffffff) throw new RangeError(`bad tag ${tag}`);
    return tag >>> 0;
  }
  const hex = tag.replace(/[(),\s]/g, '');
  if (/^[0-9a-fA-F]{8}$/.test(hex)) return parseInt(hex, 16) >>> 0;
  const std = tagOf(tag);
  if (std !== undefined) return std;
  if (keywordResolver) {
    const t = keywordResolver(tag);
    if (t !== undefined) return t;
  }
  throw new RangeError(`unknown DICOM keyword or tag: ${tag}`);
}

let keywordResolver: ((keyword: string) => number | undefined) | undefined;
/** An extra keyword resolver, consulted after the standard dictionary (e.g. for site-specific names). */
export function setKeywordResolver(fn: (keyword: string) => number | undefined): void {
  keywordResolver = fn;
}

const NUMBER_VRS: Record<string, { size: number; kind: 'f' | 'i' | 'u' }> = {
  FL: { size: 4, kind: 'f' }, FD: { size: 8, kind: 'f' }, SS: { size: 2, kind: 'i' }, US: { size: 2, kind: 'u' },
  SL: { size: 4, kind: 'i' }, UL: { size: 4, kind: 'u' }, SV: { size: 8, kind: 'i' }, UV: { size: 8, kind: 'u' },
  OW: { size: 2, kind: 'u' }, OF: { size: 4, kind: 'f' }, OD: { size: 8, kind: 'f' }, OL: { size: 4, kind: 'u' },
  OV: { size: 8, kind: 'u' },
};

const textEncoder = new TextEncoder();

/** Growable byte sink: headers go in with small writes, big values with one `set()` each. */
class Sink {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  constructor(size = 4096) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private grow(need: number): void {
    if (this.pos + need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u16(v: number, le: boolean): void {
    this.grow(2);
    this.view.setUint16(this.pos, v, le);
    this.pos += 2;
  }
  u32(v: number, le: boolean): void {
    this.grow(4);
    this.view.setUint32(this.pos, v >>> 0, le);
    this.pos += 4;
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  ascii(s: string): void {
    this.grow(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i) & 0xff;
  }
  zeros(n: number): void {
    this.grow(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

interface Syntax {
  explicit: boolean;
  le: boolean;
}

/** The writer's view of the encoding `uid` selects (transfer-syntax.ts decides it). */
function writeSyntax(uid: string): Syntax & { deflate: boolean } {
  const s = syntaxOf(uid);
  return { explicit: s.explicit, le: !s.bigEndian, deflate: s.deflated };
}

function isItems(v: WriteValue): v is WriteItem[] {
  return Array.isArray(v) && (v.length === 0 || (typeof v[0] === 'object' && v[0] !== null && 'elements' in (v[0] as object)));
}

function isEncapsulated(v: WriteValue): v is EncapsulatedValue {
  return typeof v === 'object' && v !== null && (v as EncapsulatedValue).encapsulated === true;
}

function padText(s: string, vr: string): Uint8Array {
  const n = s.length;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  // TextEncoder costs more than the copy for the short strings DICOM mostly holds
  if (ascii) {
    const out = new Uint8Array(n + (n & 1));
    for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
    if (n & 1) out[n] = vr === 'UI' ? 0 : 0x20;
    return out;
  }
  const raw = textEncoder.encode(s);
  if ((raw.length & 1) === 0) return raw;
  const out = new Uint8Array(raw.length + 1);
  out.set(raw);
  out[raw.length] = vr === 'UI' ? 0 : 0x20;
  return out;
}

function formatNumberString(n: number, vr: string): string {
  if (vr === 'IS') return String(Math.trunc(n));
  if (Number.isInteger(n)) return String(n);
  // DS is limited to 16 characters.
  let s = String(n);
  for (let p = 15; s.length > 16 && p > 0; p--) s = String(Number(n.toPrecision(p)));
  return s;
}

/** Little-endian (or big-endian) bytes of a value of a binary VR; Uint8Array input is taken as LE bytes. */
function encodeBinary(vr: string, value: WriteValue, le: boolean): Uint8Array {
  const spec = NUMBER_VRS[vr];
  if (value instanceof Uint8Array) {
    if (le || spec === undefined) return value;
    return swapBytes(value, spec.size);
  }
  if (ArrayBuffer.isView(value)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    if (le || spec === undefined) return bytes;
    // The typed array holds native (little-endian on every platform we run) values.
    return swapBytes(bytes, spec?.size ?? 1);
  }
  if (!spec) throw new TypeError(`VR ${vr} needs bytes`);
  const list = (Array.isArray(value) ? value : [value]) as (number | bigint)[];
  const out = new Uint8Array(list.length * spec.size);
  const dv = new DataView(out.buffer);
  list.forEach((v, i) => {
    const o = i * spec.size;
    if (spec.size === 8) {
      if (spec.kind === 'f') dv.setFloat64(o, Number(v), le);
      else if (spec.kind === 'i') dv.setBigInt64(o, BigInt(v), le);
      else dv.setBigUint64(o, BigInt(v), le);
    } else if (spec.kind === 'f') dv.setFloat32(o, Number(v), le);
    else if (spec.size === 4) {
      if (spec.kind === 'i') dv.setInt32(o, Number(v), le);
      else dv.setUint32(o, Number(v), le);
    } else if (spec.kind === 'i') dv.setInt16(o, Number(v), le);
    else dv.setUint16(o, Number(v), le);
  });
  return out;
}

function swapBytes(b: Uint8Array, size: number): Uint8Array {
  if (size === 1) return b;
  const out = new Uint8Array(b.length);
  const n = b.length - (b.length % size);
  for (let i = 0; i < n; i += size) for (let j = 0; j < size; j++) out[i + j] = b[i + size - 1 - j];
  out.set(b.subarray(n), n);
  return out;
}

/** Value bytes (unpadded for binary, padded for text) of a non-sequence element. */
export function encodeValue(vr: string, value: WriteValue, littleEndian = true): Uint8Array {
  if (value === null || value === undefined) return new Uint8Array(0);
  if (TEXT_VRS.has(vr)) {
    if (value instanceof Uint8Array) return value.length & 1 ? padBytes(value, vr === 'UI' ? 0 : 0x20) : value;
    let s: string;
    if (Array.isArray(value)) {
      s = (value as (string | number)[]).map((v) => (typeof v === 'number' ? formatNumberString(v, vr) : String(v))).join('\\');
    } else if (typeof value === 'number') s = formatNumberString(value, vr);
    else s = String(value);
    if (SINGLE_TEXT_VRS.has(vr) && Array.isArray(value) && value.length > 1) {
      throw new TypeError(`VR ${vr} holds a single value`);
    }
    return padText(s, vr);
  }
  if (vr === 'AT') {
    const list = (Array.isArray(value) ? value : [value]) as (number | string)[];
    const out = new Uint8Array(list.length * 4);
    const dv = new DataView(out.buffer);
    list.forEach((t, i) => {
      const tag = resolveTag(t);
      dv.setUint16(i * 4, tag >>> 16, littleEndian);
      dv.setUint16(i * 4 + 2, tag & 0xffff, littleEndian);
    });
    return out;
  }
  const bytes = encodeBinary(vr, value, littleEndian);
  return bytes.length & 1 ? padBytes(bytes, 0) : bytes;
}

function padBytes(b: Uint8Array, pad: number): Uint8Array {
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  out[b.length] = pad;
  return out;
}

function writeHeader(sink: Sink, tag: number, vr: string, length: number, syn: Syntax): void {
  sink.u16(tag >>> 16, syn.le);
  sink.u16(tag & 0xffff, syn.le);
  if (!syn.explicit) {
    sink.u32(length, syn.le);
    return;
  }
  sink.ascii(vr);
  if (LONG_VRS.has(vr)) {
    sink.u16(0, syn.le);
    sink.u32(length, syn.le);
  } else {
    if (length > 0xffff) throw new RangeError(`value of ${vr} element ${tagHex(tag)} too long for explicit VR (${length} bytes)`);
    sink.u16(length, syn.le);
  }
}

function sorted(elements: WriteElement[]): { tag: number; el: WriteElement }[] {
  return elements.map((el) => ({ tag: resolveTag(el.tag), el })).sort((a, b) => a.tag - b.tag);
}

function writeItemTag(sink: Sink, tag: number, length: number, le: boolean): void {
  sink.u16(0xfffe, le);
  sink.u16(tag & 0xffff, le);
  sink.u32(length, le);
}

function writeItems(sink: Sink, items: WriteItem[], syn: Syntax): void {
  for (const item of items) {
    if (item.undefinedLength) {
      writeItemTag(sink, 0xe000, 0xffffffff, syn.le);
      writeElements(sink, item.elements, syn);
      writeItemTag(sink, 0xe00d, 0, syn.le);
    } else {
      const inner = new Sink(256);
      writeElements(inner, item.elements, syn);
      writeItemTag(sink, 0xe000, inner.pos, syn.le);
      sink.bytes(inner.buf.subarray(0, inner.pos));
    }
  }
}

function writeElement(sink: Sink, tag: number, el: WriteElement, syn: Syntax): void {
  const vr = el.vr.toUpperCase();
  if (!STANDARD_VRS.has(vr)) throw new RangeError(`unknown VR ${el.vr} for ${tagHex(tag)}`);
  const value = el.value;
  if (isEncapsulated(value)) {
    writeHeader(sink, tag, vr, 0xffffffff, syn);
    const table = new Uint8Array(value.offsets.length * 4);
    const dv = new DataView(table.buffer);
    value.offsets.forEach((o, i) => dv.setUint32(i * 4, o, syn.le));
    writeItemTag(sink, 0xe000, table.length, syn.le);
    sink.bytes(table);
    for (const f of value.fragments) {
      writeItemTag(sink, 0xe000, f.length + (f.length & 1), syn.le);
      sink.bytes(f);
      if (f.length & 1) sink.zeros(1);
    }
    writeItemTag(sink, 0xe0dd, 0, syn.le);
    return;
  }
  if (vr === 'SQ' || (vr === 'UN' && Array.isArray(value) && value.length > 0 && isItems(value))) {
    const items = (value ?? []) as WriteItem[];
    // A UN element of undefined length holds a sequence encoded in implicit VR little endian.
    const inner: Syntax = vr === 'UN' ? { explicit: false, le: true } : syn;
    if (el.undefinedLength) {
      writeHeader(sink, tag, vr, 0xffffffff, syn);
      writeItems(sink, items, inner);
      writeItemTag(sink, 0xe0dd, 0, syn.le);
    } else {
      const body = new Sink(256);
      writeItems(body, items, inner);
      writeHeader(sink, tag, vr, body.pos, syn);
      sink.bytes(body.buf.subarray(0, body.pos));
    }
    return;
  }
  const bytes = encodeValue(vr, value, syn.le);
  writeHeader(sink, tag, vr, bytes.length, syn);
  sink.bytes(bytes);
}

function writeElements(sink: Sink, elements: WriteElement[], syn: Syntax): void {
  for (const { tag, el } of sorted(elements)) writeElement(sink, tag, el, syn);
}

/** Encodes a data set (no preamble, no meta group) in the given transfer syntax (deflate excluded). */
export function writeDataSet(elements: WriteElement[], transferSyntaxUID: string): Uint8Array {
  const syn = writeSyntax(transferSyntaxUID);
  const sink = new Sink(16384);
  writeElements(sink, elements, syn);
  return sink.result();
}

/** Encodes one element (header and value) for splicing into existing bytes. */
export function writeElementBytes(el: WriteElement, opts: { explicit: boolean; littleEndian: boolean }): Uint8Array {
  const tag = resolveTag(el.tag);
  const vr = el.vr.toUpperCase();
  const v = el.value;
  if (vr === 'SQ' || isEncapsulated(v) || (vr === 'UN' && Array.isArray(v) && v.length > 0 && isItems(v)) || !STANDARD_VRS.has(vr)) {
    const sink = new Sink(64);
    writeElement(sink, tag, el, { explicit: opts.explicit, le: opts.littleEndian });
    return sink.result();
  }
  // the common case (anonymizer replacements): one allocation, header written by hand
  const value = encodeValue(vr, v, opts.littleEndian);
  const long = opts.explicit && LONG_VRS.has(vr);
  const head = long ? 12 : 8;
  if (opts.explicit && !long && value.length > 0xffff) {
    throw new RangeError(`value of ${vr} element ${tagHex(tag)} too long for explicit VR (${value.length} bytes)`);
  }
  const out = new Uint8Array(head + value.length);
  const le = opts.littleEndian;
  // by hand (no helper closures): this runs for every replaced element of every image
  const g = tag >>> 16;
  const e = tag & 0xffff;
  const n = value.length;
  out[0] = le ? g & 0xff : g >>> 8;
  out[1] = le ? g >>> 8 : g & 0xff;
  out[2] = le ? e & 0xff : e >>> 8;
  out[3] = le ? e >>> 8 : e & 0xff;
  if (opts.explicit) {
    out[4] = vr.charCodeAt(0);
    out[5] = vr.charCodeAt(1);
  }
  const lo = opts.explicit ? (long ? 8 : 6) : 4;
  if (lo === 6) {
    out[6] = le ? n & 0xff : (n >>> 8) & 0xff;
    out[7] = le ? (n >>> 8) & 0xff : n & 0xff;
  } else {
    for (let i = 0; i < 4; i++) out[lo + (le ? i : 3 - i)] = (n >>> (8 * i)) & 0xff;
  }
  out.set(value, head);
  return out;
}

/** Just an element header (tag, VR in explicit VR, length), e.g. for a sequence whose length changed. */
export function encodeHeader(tag: number, vr: string, length: number, opts: { explicit: boolean; littleEndian: boolean }): Uint8Array {
  const sink = new Sink(12);
  writeHeader(sink, tag, vr, length, { explicit: opts.explicit, le: opts.littleEndian });
  return sink.result();
}

/** An item header (FFFE,E000) with the given length. */
export function encodeItemHeader(length: number, littleEndian: boolean): Uint8Array {
  const sink = new Sink(8);
  writeItemTag(sink, 0xe000, length, littleEndian);
  return sink.result();
}

function findValue(elements: WriteElement[], tag: number): WriteValue {
  for (const el of elements) if (resolveTag(el.tag) === tag) return el.value;
  return undefined;
}

/** File meta group (0002): caller-given meta elements override the defaults derived from the data set. */
export function buildFileMeta(dataElements: WriteElement[], transferSyntaxUID: string, overrides: WriteElement[] = []): Uint8Array {
  const meta = new Map<number, WriteElement>();
  const put = (el: WriteElement) => meta.set(resolveTag(el.tag), el);
  put({ tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) });
  const sopClass = findValue(dataElements, 0x00080016);
  const sopInstance = findValue(dataElements, 0x00080018);
  if (sopClass !== undefined) put({ tag: 0x00020002, vr: 'UI', value: sopClass });
  if (sopInstance !== undefined) put({ tag: 0x00020003, vr: 'UI', value: sopInstance });
  put({ tag: 0x00020010, vr: 'UI', value: transferSyntaxUID });
  put({ tag: 0x00020012, vr: 'UI', value: IMPLEMENTATION_CLASS_UID });
  put({ tag: 0x00020013, vr: 'SH', value: IMPLEMENTATION_VERSION_NAME });
  for (const el of overrides) put(el);
  meta.delete(0x00020000);
  const syn: Syntax = { explicit: true, le: true };
  const body = new Sink(256);
  writeElements(body, [...meta.values()], syn);
  const sink = new Sink(body.pos + 12);
  writeHeader(sink, 0x00020000, 'UL', 4, syn);
  sink.u32(body.pos, true);
  sink.bytes(body.buf.subarray(0, body.pos));
  return sink.result();
}

/**
 * Part-10 bytes: preamble, 'DICM', file meta group (explicit VR LE with the right group length),
 * then the data set in `transferSyntaxUID`. Elements of group 0002 in `elements` go into the meta
 * group (overriding the defaults); every other element goes into the data set, sorted by tag.
 */
export function writeDicom(elements: WriteElement[], opts: WriteOptions): Uint8Array {
  const fileMeta = opts.fileMeta ?? true;
  const preamble = opts.preamble ?? fileMeta;
  const metaEls: WriteElement[] = [];
  const dataEls: WriteElement[] = [];
  for (const el of elements) (resolveTag(el.tag) >>> 16 === 0x0002 ? metaEls : dataEls).push(el);
  const syn = writeSyntax(opts.transferSyntaxUID);
  const body = new Sink(16384);
  writeElements(body, dataEls, syn);
  let data = body.buf.subarray(0, body.pos);
  if (syn.deflate) data = deflateSync(data, { level: 6 });
  const meta = fileMeta ? buildFileMeta(dataEls, opts.transferSyntaxUID, metaEls) : new Uint8Array(0);
  const head = preamble ? 132 : 0;
  const out = new Uint8Array(head + meta.length + data.length);
  if (preamble) out.set([0x44, 0x49, 0x43, 0x4d], 128);
  out.set(meta, head);
  out.set(data, head + meta.length);
  return out;
}
