// The value encoding (documented in README.md, "Wire format"). No Node-only imports.
//
// A value is one tag byte followed by its body. Integers use LEB128 varints (up to 2^53).
// Large Uint8Arrays and byte streams are not copied into the encoded value: they become
// "parts" that travel as separate DATA frames after the frame that holds the value, so a
// 1 GiB payload never has to be in one frame, and the raw bytes are never re-encoded.

import { ProtocolError, RtfmriError, ValidationError, errorToWire, reviveError } from './errors.js';

export const enum Tag {
  Undefined = 0x00,
  Null = 0x01,
  False = 0x02,
  True = 0x03,
  Int = 0x04, // zigzag varint, safe integers only
  Float = 0x05, // float64 little-endian
  BigInt = 0x06, // sign byte, varint length, magnitude little-endian
  String = 0x07, // varint byte length, UTF-8
  Bytes = 0x08, // varint length, raw bytes (small Uint8Array inline)
  Array = 0x09, // varint count, values
  Object = 0x0a, // varint count, (varint length + UTF-8 key, value)*
  Error = 0x0b, // name, code, message (each varint length + UTF-8), details value
  TypedArray = 0x0c, // kind byte, varint byte length, raw bytes (little-endian platform order)
  BlobPart = 0x0d, // varint length: bytes follow as the next part
  StreamPart = 0x0e, // no body: a byte stream follows as the next part
  Date = 0x0f, // float64 ms since epoch
}

const TYPED_KINDS = [
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

export type OutgoingPart = { kind: 'blob'; bytes: Uint8Array } | { kind: 'stream'; source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> };

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

const SLAB_SIZE = 64 * 1024;
const SLAB_MAX = 4096;
let slab = new Uint8Array(SLAB_SIZE);
let slabPos = 0;

/** A growable byte writer. */
export class Writer {
  buf: Uint8Array;
  private dv: DataView | undefined;
  pos = 0;
  constructor(size = 256) {
    this.buf = new Uint8Array(size);
  }
  /** Made on first use: most frames hold no float, and a DataView per frame shows up in profiles. */
  get view(): DataView {
    return (this.dv ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }
  /**
   * A copy of what was written (for writers that are reused). Small frames are carved out of a
   * shared slab, as Node does for small Buffers: a fresh ArrayBuffer per small frame costs more
   * (allocation and GC) than the whole rest of a call.
   */
  take(): Uint8Array {
    const n = this.pos;
    if (n > SLAB_MAX) return this.buf.slice(0, n);
    if (slabPos + n > slab.length) {
      slab = new Uint8Array(SLAB_SIZE);
      slabPos = 0;
    }
    const out = slab.subarray(slabPos, slabPos + n);
    const b = this.buf;
    // Most frames are a few dozen bytes: a loop beats making a second view just to set() from it.
    if (n <= 64) for (let i = 0; i < n; i++) out[i] = b[i];
    else out.set(b.subarray(0, n));
    slabPos = (slabPos + n + 7) & ~7;
    return out;
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = undefined;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  varint(v: number): void {
    // v is a non-negative safe integer.
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
  string(s: string): void {
    // Worst case 3 bytes per UTF-16 unit; write the length after encoding.
    const max = s.length * 3;
    const lenBytes = varintSize(max);
    this.ensure(lenBytes + max);
    const start = this.pos + lenBytes;
    let n: number;
    if (s.length < 64 && isAscii(s)) {
      for (let i = 0; i < s.length; i++) this.buf[start + i] = s.charCodeAt(i);
      n = s.length;
    } else {
      n = textEncoder.encodeInto(s, this.buf.subarray(start)).written;
    }
    const nb = varintSize(n);
    if (nb !== lenBytes) this.buf.copyWithin(this.pos + nb, start, start + n);
    this.varint(n);
    this.pos += n;
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Byte reader over one frame; every read is bounds-checked and throws ProtocolError. */
export class Reader {
  pos: number;
  private dv: DataView | undefined;
  constructor(
    public buf: Uint8Array,
    pos = 0,
  ) {
    this.pos = pos;
    // A Node Buffer's slice() is a view, not a copy: read through a plain Uint8Array.
    if (buf.constructor !== Uint8Array) this.buf = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get view(): DataView {
    return (this.dv ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  need(n: number): void {
    if (n > this.buf.length - this.pos) throw new ProtocolError('truncated frame');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (v > Number.MAX_SAFE_INTEGER) throw new ProtocolError('varint out of range');
        return v;
      }
      mul *= 0x80;
    }
    throw new ProtocolError('varint too long');
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  string(): string {
    const n = this.varint();
    const b = this.bytes(n);
    if (n < 64) {
      let ascii = true;
      for (let i = 0; i < n; i++) if (b[i] > 0x7f) ascii = false;
      if (ascii) return String.fromCharCode.apply(null, b as unknown as number[]);
    }
    try {
      return textDecoder.decode(b);
    } catch {
      throw new ProtocolError('invalid UTF-8 in string');
    }
  }
  rest(): Uint8Array {
    const b = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return b;
  }
}

export interface EncodeOptions {
  /** Uint8Arrays at least this long travel as separate parts (not copied into the value). */
  inlineLimit?: number;
}

/** Encode `value`; large Uint8Arrays and streams are appended to `parts` in order. */
export function encodeValue(value: unknown, parts: OutgoingPart[], w = new Writer(), options: EncodeOptions = {}): Writer {
  // Most call arguments and results are a scalar or a short list of scalars: encoded here
  // without the recursive encoder's closure and cycle set.
  if (writeScalar(w, value)) return w;
  if (Array.isArray(value) && value.length <= 16 && allScalars(value)) {
    w.u8(Tag.Array);
    w.varint(value.length);
    for (let i = 0; i < value.length; i++) writeScalar(w, value[i]);
    return w;
  }
  const inlineLimit = options.inlineLimit ?? 16 * 1024;
  const seen = new Set<object>();
  const enc = (v: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw new ValidationError(`value nested deeper than ${MAX_DEPTH}`);
    switch (typeof v) {
      case 'undefined':
        w.u8(Tag.Undefined);
        return;
      case 'boolean':
        w.u8(v ? Tag.True : Tag.False);
        return;
      case 'number':
        // Zigzag doubles the magnitude: only |v| < 2^52 keeps the varint within 2^53.
        if (Number.isInteger(v) && Math.abs(v) < 2 ** 52 && !Object.is(v, -0)) {
          w.u8(Tag.Int);
          w.varint(v >= 0 ? v * 2 : -v * 2 - 1);
        } else {
          w.u8(Tag.Float);
          w.f64(v);
        }
        return;
      case 'bigint': {
        w.u8(Tag.BigInt);
        const neg = v < 0n;
        // Linear, like the decoder: magnitude little-endian from one hex string.
        let hex = neg ? (-v).toString(16) : v.toString(16);
        if (hex === '0') hex = '';
        if (hex.length & 1) hex = '0' + hex;
        const n = hex.length / 2;
        const bytes = new Uint8Array(n);
        for (let i = 0; i < n; i++) bytes[i] = parseInt(hex.slice(hex.length - 2 * (i + 1), hex.length - 2 * i), 16);
        w.u8(neg ? 1 : 0);
        w.varint(n);
        w.bytes(bytes);
        return;
      }
      case 'string':
        w.u8(Tag.String);
        w.string(v);
        return;
      case 'object':
        break;
      default:
        throw new ValidationError(`cannot send a ${typeof v} over the wire`);
    }
    if (v === null) {
      w.u8(Tag.Null);
      return;
    }
    if (v instanceof Uint8Array && v.constructor === Uint8Array) {
      if (v.byteLength >= inlineLimit) {
        w.u8(Tag.BlobPart);
        w.varint(v.byteLength);
        parts.push({ kind: 'blob', bytes: v });
      } else {
        w.u8(Tag.Bytes);
        w.varint(v.byteLength);
        w.bytes(v);
      }
      return;
    }
    if (ArrayBuffer.isView(v)) {
      const kind = TYPED_KINDS.findIndex((k) => v instanceof k && v.constructor === k);
      // Node Buffers are Uint8Arrays: send them as plain bytes.
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (kind < 0 || v instanceof Uint8Array) {
        if (v instanceof Uint8Array || v instanceof DataView) return enc(bytes, depth);
        throw new ValidationError(`cannot send ${v.constructor.name}`);
      }
      w.u8(Tag.TypedArray);
      w.u8(kind);
      w.varint(bytes.byteLength);
      w.bytes(bytes);
      return;
    }
    if (v instanceof Date) {
      w.u8(Tag.Date);
      w.f64(v.getTime());
      return;
    }
    if (v instanceof Error) {
      const e = errorToWire(v);
      w.u8(Tag.Error);
      w.string(e.name);
      w.string(e.code);
      w.string(e.message);
      enc(e.details, depth + 1);
      return;
    }
    if (isAsyncOrSyncByteSource(v)) {
      w.u8(Tag.StreamPart);
      parts.push({ kind: 'stream', source: v.stream });
      return;
    }
    if (seen.has(v)) throw new ValidationError('cannot send a cyclic value');
    if (Array.isArray(v)) {
      seen.add(v);
      w.u8(Tag.Array);
      w.varint(v.length);
      for (let i = 0; i < v.length; i++) enc(v[i], depth + 1);
      seen.delete(v);
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new ValidationError(`cannot send an instance of ${(v as object).constructor?.name ?? 'a class'}: only plain objects`);
    }
    seen.add(v);
    const keys = Object.keys(v);
    w.u8(Tag.Object);
    w.varint(keys.length);
    for (const k of keys) {
      w.string(k);
      enc((v as Record<string, unknown>)[k], depth + 1);
    }
    seen.delete(v);
  };
  enc(value, 0);
  return w;
}

/** Error messages sent by the RPC layer are cut to this many UTF-16 units (a suffix says so). */
export const MAX_ERROR_MESSAGE = 4096;
/** Encoded error details larger than this are dropped (the error still crosses, without them). */
export const MAX_ERROR_DETAILS = 16 * 1024;
const MAX_ERROR_NAME = 256;

function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  // Do not cut a surrogate pair in half (that would become U+FFFD on the wire).
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}... (${s.length} characters)`;
}

/**
 * Encode an error the RPC layer sends on its own (FAIL, CLOSE, a failed stream) with a bounded
 * size: an error that echoes a huge argument must not make a frame over the link's message limit
 * (that would drop the whole link rather than fail one call). The message is cut to
 * MAX_ERROR_MESSAGE, name and code to 256, and details that do not encode (functions, class
 * instances) or exceed MAX_ERROR_DETAILS encoded are dropped.
 */
export function encodeErrorBounded(e: unknown, w: Writer): void {
  const wire = errorToWire(e instanceof Error ? e : new RtfmriError(String(e)));
  let details: Uint8Array | undefined;
  if (wire.details !== undefined) {
    try {
      const dw = encodeValue(wire.details, [], new Writer(256), { inlineLimit: Infinity });
      if (dw.pos <= MAX_ERROR_DETAILS) details = dw.finish();
    } catch {
      // Details that cannot be encoded are dropped; the error itself still crosses.
    }
  }
  w.u8(Tag.Error);
  w.string(clip(String(wire.name), MAX_ERROR_NAME));
  w.string(clip(String(wire.code), MAX_ERROR_NAME));
  w.string(clip(String(wire.message), MAX_ERROR_MESSAGE));
  if (details) w.bytes(details);
  else w.u8(Tag.Undefined);
}

function allScalars(a: readonly unknown[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    // Holes read as undefined here, as in the general encoder.
    if (v !== null && typeof v === 'object') return false;
    if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') return false;
  }
  return true;
}

/** Encode undefined, null, a boolean, a number or a string; false (nothing written) for anything else. */
function writeScalar(w: Writer, v: unknown): boolean {
  switch (typeof v) {
    case 'undefined':
      w.u8(Tag.Undefined);
      return true;
    case 'boolean':
      w.u8(v ? Tag.True : Tag.False);
      return true;
    case 'number':
      if (Number.isInteger(v) && Math.abs(v) < 2 ** 52 && !Object.is(v, -0)) {
        w.u8(Tag.Int);
        w.varint(v >= 0 ? v * 2 : -v * 2 - 1);
      } else {
        w.u8(Tag.Float);
        w.f64(v);
      }
      return true;
    case 'string':
      w.u8(Tag.String);
      w.string(v);
      return true;
    case 'object':
      if (v !== null) return false;
      w.u8(Tag.Null);
      return true;
    default:
      return false;
  }
}

/** Wrap a byte source so it is sent as a flow-controlled stream part. */
/**
 * Wrap a byte source so it is sent as a flow-controlled stream part. It is itself an
 * AsyncIterable, like the IncomingStream the other end receives, so both sides share one type.
 */
export class ByteStream implements AsyncIterable<Uint8Array> {
  constructor(public readonly stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {}
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    yield* this.stream as AsyncIterable<Uint8Array>;
  }
}

function isAsyncOrSyncByteSource(v: object): v is ByteStream {
  return v instanceof ByteStream;
}

export const MAX_DEPTH = 64;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

let scratch: Writer | null = new Writer(64 * 1024);

/**
 * A reusable writer for building one frame (call `take()` to copy the frame out, then release).
 * Not re-entrant: encoding can run user getters, so a nested user gets a fresh writer.
 */
export function borrowWriter(): Writer {
  const w = scratch;
  if (!w) return new Writer(256);
  scratch = null;
  w.pos = 0;
  return w;
}

export function releaseWriter(w: Writer): void {
  // Keep the shared one small enough not to pin a big buffer forever.
  if (w.buf.length <= 1024 * 1024) scratch = w;
}

export interface IncomingParts {
  /** Called for each part placeholder, in order of appearance; returns what stands in the value. */
  blob(index: number, length: number): Uint8Array;
  stream(index: number): unknown;
}

const isScalarTag = (t: number): boolean => t <= Tag.Float || t === Tag.String;

/** The tags both decoders read the same way: undefined, null, booleans, int, float, string. */
function decodeScalar(r: Reader, t: number): unknown {
  switch (t) {
    case Tag.Undefined:
      return undefined;
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Int: {
      const z = r.varint();
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    case Tag.Float:
      return r.f64();
    default:
      return r.string();
  }
}

/** Decode one value; throws ProtocolError on anything malformed. Never revives classes except errors. */
export function decodeValue(r: Reader, parts?: IncomingParts): unknown {
  // Scalars (most results) without making the recursive decoder.
  if (r.pos < r.buf.length && isScalarTag(r.buf[r.pos])) return decodeScalar(r, r.buf[r.pos++]);
  let partIndex = 0;
  const dec = (depth: number): unknown => {
    if (depth > MAX_DEPTH) throw new ProtocolError(`value nested deeper than ${MAX_DEPTH}`);
    const tag = r.u8();
    if (isScalarTag(tag)) return decodeScalar(r, tag);
    switch (tag) {
      case Tag.BigInt: {
        const neg = r.u8();
        if (neg > 1) throw new ProtocolError('bad bigint sign');
        const n = r.varint();
        const b = r.bytes(n);
        // Linear: one hex string, one parse (shifting a BigInt per byte is quadratic: 256 KiB took 34 s).
        if (n === 0) return 0n;
        const hex = new Array<string>(n);
        for (let i = 0; i < n; i++) hex[n - 1 - i] = HEX[b[i]!]!;
        const m = BigInt('0x' + hex.join(''));
        return neg ? -m : m;
      }
      case Tag.Bytes: {
        const n = r.varint();
        // Copy: the frame buffer may be pooled by the transport, and a small copy keeps the big frame collectable.
        return r.bytes(n).slice();
      }
      case Tag.Array: {
        const n = r.varint();
        if (n > r.remaining) throw new ProtocolError('array count exceeds frame');
        const a = new Array(n);
        for (let i = 0; i < n; i++) a[i] = dec(depth + 1);
        return a;
      }
      case Tag.Object: {
        const n = r.varint();
        if (n > r.remaining) throw new ProtocolError('object size exceeds frame');
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = r.string();
          const val = dec(depth + 1);
          // '__proto__' as an own data property, never as a prototype change.
          if (k === '__proto__') Object.defineProperty(o, k, { value: val, enumerable: true, writable: true, configurable: true });
          else o[k] = val;
        }
        return o;
      }
      case Tag.Error: {
        const name = r.string();
        const code = r.string();
        const message = r.string();
        const details = dec(depth + 1);
        return reviveError(name, code, message, details);
      }
      case Tag.TypedArray: {
        const kind = r.u8();
        const ctor = TYPED_KINDS[kind];
        if (!ctor) throw new ProtocolError('unknown typed array kind');
        const n = r.varint();
        if (n % ctor.BYTES_PER_ELEMENT) throw new ProtocolError('typed array length not a multiple of its element size');
        const b = r.bytes(n).slice(); // aligned copy
        return new ctor(b.buffer, 0, n / ctor.BYTES_PER_ELEMENT);
      }
      case Tag.Date:
        return new Date(r.f64());
      case Tag.BlobPart: {
        const n = r.varint();
        if (!parts) throw new ProtocolError('unexpected part reference');
        return parts.blob(partIndex++, n);
      }
      case Tag.StreamPart: {
        if (!parts) throw new ProtocolError('unexpected part reference');
        return parts.stream(partIndex++);
      }
      default:
        throw new ProtocolError(`unknown value tag 0x${tag.toString(16)}`);
    }
  };
  return dec(0);
}

/** Convenience: encode a value with no parts (everything inline). */
export function encodeInline(value: unknown): Uint8Array {
  const parts: OutgoingPart[] = [];
  const w = encodeValue(value, parts, new Writer(), { inlineLimit: Infinity });
  if (parts.length) throw new ValidationError('streams are not allowed here');
  return w.finish();
}

export function decodeInline(bytes: Uint8Array): unknown {
  const r = new Reader(bytes);
  const v = decodeValue(r);
  if (r.remaining) throw new ProtocolError('trailing bytes after value');
  return v;
}

export { RtfmriError };
