// Receiving a message (request or result) whose value comes with parts: an external value (too big
// for one frame), blobs assembled from DATA frames, streams handed to the user as they flow. No
// Node-only imports.
import { inflateSync } from 'fflate';
import { ProtocolError, RtfmriError } from './errors.js';
import { decodeValue, Reader } from './codec.js';
import { DF_COMPRESSED, DF_DONE, DF_END, DF_ERROR, DF_RAW, DF_RESULT, inflateAllowed, MAX_INFLATE_RATIO, MAX_INFLATED_VALUE, MF_COMPRESSED, MF_EXTERNAL } from './frames.js';
import { IncomingStream, type CreditSender } from './incoming-stream.js';

interface PartSinkBlob {
  kind: 'blob';
  len: number;
  /** Allocated at the first chunk, whole up to 16 MiB, growing above (or the chunk itself when it is the whole part). */
  buf: Uint8Array | null;
  filled: number;
}
interface PartSinkStream {
  kind: 'stream';
  stream: IncomingStream;
}
type PartSink = PartSinkBlob | PartSinkStream;

/** An incoming message (request or result) being assembled from its frames. */
interface Incoming {
  callId: number;
  dir: 0 | 1;
  compressed: boolean;
  /** The value travels as part 0 (and its own parts are numbered from 1). */
  externalUsed: boolean;
  external: PartSinkBlob | null;
  value: unknown;
  /** The value's bytes, kept for the second decoding pass when it has parts. */
  body: Uint8Array | null;
  rawLen: number;
  decoded: boolean;
  parts: PartSink[];
  blobsLeft: number;
  openStreams: number;
  onComplete: (value: unknown) => void;
  delivered: boolean;
}

export interface InboundLimits {
  maxFrameSize: number;
  maxPartSize: number;
  streamWindow: number;
}

/** Throws unless the reader is at the end of its frame. */
export function endOfFrame(r: Reader): void {
  if (r.remaining) throw new ProtocolError('trailing bytes in frame');
}

/** The messages with parts that one RpcPeer is receiving, both directions. */
export class Inbound {
  /** Requests (dir 0) and results (dir 1) being assembled, by call id. */
  private readonly msgs: [Map<number, Incoming>, Map<number, Incoming>] = [new Map(), new Map()];
  /** Set by a DATA header whose payload is the next message (or 'drop': late data, ignored). */
  private rawNext: { inc: Incoming; sink: PartSink; flags: number } | 'drop' | null = null;

  constructor(
    private readonly limits: InboundLimits,
    private readonly credit: CreditSender,
  ) {}

  has(dir: 0 | 1, id: number): boolean {
    return this.msgs[dir].has(id);
  }

  /** Whether the next message is the raw payload of the DATA header before it (see takeRaw). */
  get expectingRaw(): boolean {
    return this.rawNext !== null;
  }

  /** The raw payload announced by the DATA header just before it. */
  takeRaw(data: Uint8Array): void {
    const raw = this.rawNext!;
    this.rawNext = null;
    if (data.byteLength > this.limits.maxFrameSize) throw new ProtocolError(`frame of ${data.byteLength} bytes exceeds the limit of ${this.limits.maxFrameSize}`);
    if (raw === 'drop') return;
    if (data.byteLength === 0) throw new ProtocolError('empty data frame');
    this.accept(raw.inc, raw.sink, raw.flags, new Reader(data), -1);
  }

  /** The value of a REQUEST or RESULT with flags (after its header); `onComplete` gets it once whole. */
  read(r: Reader, flags: number, id: number, dir: 0 | 1, onComplete: (v: unknown) => void): void {
    const inc: Incoming = {
      callId: id,
      dir,
      compressed: (flags & MF_COMPRESSED) !== 0,
      externalUsed: false,
      external: null,
      value: undefined,
      body: null,
      rawLen: 0,
      decoded: false,
      parts: [],
      blobsLeft: 0,
      openStreams: 0,
      onComplete,
      delivered: false,
    };
    const rawLen = inc.compressed ? r.varint() : 0;
    if (inc.compressed && rawLen > MAX_INFLATED_VALUE) throw new ProtocolError(`compressed value of ${rawLen} bytes inflated exceeds the limit of ${MAX_INFLATED_VALUE}`);
    if (flags & MF_EXTERNAL) {
      const extLen = r.varint();
      endOfFrame(r);
      if (extLen > this.limits.maxPartSize) throw new ProtocolError(`value of ${extLen} bytes exceeds the limit`);
      inc.externalUsed = true;
      inc.external = { kind: 'blob', len: extLen, buf: null, filled: 0 };
      inc.rawLen = rawLen;
      this.msgs[dir].set(id, inc);
      if (extLen === 0) this.externalDone(inc);
      return;
    }
    let body = r.rest();
    if (inc.compressed) {
      checkInflateRatio(rawLen, body.length);
      body = inflateExact(body, rawLen);
    }
    this.msgs[dir].set(id, inc);
    this.decodeBody(inc, body);
  }

  private externalDone(inc: Incoming): void {
    let body = inc.external!.buf ?? new Uint8Array(0);
    if (inc.compressed) {
      checkInflateRatio(inc.rawLen, body.length);
      body = inflateExact(body, inc.rawLen);
    }
    inc.external = null;
    this.decodeBody(inc, body);
  }

  /**
   * First pass over the value: learn its parts (streams start flowing now). When there are blobs,
   * the value is decoded again once they have arrived, so each blob can be the received bytes
   * themselves when it came in one piece (no copy, no buffer allocated up front).
   */
  private decodeBody(inc: Incoming, body: Uint8Array): void {
    const r = new Reader(body);
    const maxPart = this.limits.maxPartSize;
    let hasParts = false;
    const value = decodeValue(r, {
      blob: (_i, len) => {
        if (len > maxPart) throw new ProtocolError(`part of ${len} bytes exceeds the limit of ${maxPart}`);
        inc.parts.push({ kind: 'blob', len, buf: len ? null : new Uint8Array(0), filled: 0 });
        if (len > 0) inc.blobsLeft++;
        hasParts = true;
        return undefined as unknown as Uint8Array;
      },
      stream: (i) => {
        const stream = new IncomingStream(this.credit, inc.callId, inc.dir, i + (inc.externalUsed ? 1 : 0), this.limits.streamWindow, () => {
          inc.openStreams--;
          this.maybeComplete(inc);
        });
        inc.parts.push({ kind: 'stream', stream });
        inc.openStreams++;
        hasParts = true;
        return stream;
      },
    });
    if (r.remaining) throw new ProtocolError('trailing bytes after value');
    if (hasParts) inc.body = body;
    else inc.value = value;
    inc.decoded = true;
    this.maybeComplete(inc);
  }

  private maybeComplete(inc: Incoming): void {
    if (!inc.decoded || inc.blobsLeft > 0) return;
    if (!inc.delivered) {
      inc.delivered = true;
      if (inc.body) {
        const parts = inc.parts;
        inc.value = decodeValue(new Reader(inc.body), {
          blob: (i) => (parts[i] as PartSinkBlob).buf!,
          stream: (i) => (parts[i] as PartSinkStream).stream,
        });
        inc.body = null;
      }
      inc.onComplete(inc.value);
    }
    if (inc.openStreams === 0) this.msgs[inc.dir].delete(inc.callId);
  }

  /** The rest of a DATA frame (after call id and flags); `known` is the highest call id of that direction. */
  data(r: Reader, id: number, flags: number, known: number): void {
    const dir = (flags & DF_RESULT ? 1 : 0) as 0 | 1;
    const partIdx = r.varint();
    if (id > known) throw new ProtocolError(`data for unknown call ${id}`);
    if (flags & DF_DONE) {
      endOfFrame(r);
      return;
    }
    if (flags & DF_RAW && flags & (DF_COMPRESSED | DF_ERROR)) throw new ProtocolError('bad data flags');
    const inc = this.msgs[dir].get(id);
    if (!inc) {
      // late data for a finished/cancelled call
      if (flags & DF_RAW) this.rawNext = 'drop';
      return;
    }
    const base = inc.externalUsed ? 1 : 0;
    let sink: PartSink | undefined;
    if (inc.external) {
      if (partIdx !== 0) throw new ProtocolError('data out of order: value part not complete');
      sink = inc.external;
    } else {
      if (!inc.decoded) throw new ProtocolError('data before value');
      sink = inc.parts[partIdx - base];
    }
    if (!sink) throw new ProtocolError(`data for unknown part ${partIdx}`);
    if (flags & DF_RAW) {
      endOfFrame(r);
      this.rawNext = { inc, sink, flags };
      return;
    }
    let rawLen = -1;
    if (flags & DF_COMPRESSED) rawLen = r.varint();
    this.accept(inc, sink, flags, r, rawLen);
  }

  /** The payload of a DATA frame (inline after its header, or the raw message that followed it). */
  private accept(inc: Incoming, sink: PartSink, flags: number, r: Reader, rawLen: number): void {
    if (sink.kind === 'blob') {
      if (flags & (DF_END | DF_ERROR)) throw new ProtocolError('end flag on a byte part');
      const room = sink.len - sink.filled;
      if (rawLen >= 0) {
        if (rawLen > room || rawLen === 0) throw new ProtocolError('data overruns its part');
        checkInflateRatio(rawLen, r.remaining);
        reserve(sink, rawLen);
        const out = inflateExact(r.rest(), rawLen, sink.buf!.subarray(sink.filled, sink.filled + rawLen));
        if (out.buffer !== sink.buf!.buffer || out.byteOffset !== sink.buf!.byteOffset + sink.filled) sink.buf!.set(out, sink.filled);
        sink.filled += rawLen;
      } else {
        const chunk = r.rest();
        if (chunk.length > room) throw new ProtocolError('data overruns its part');
        if (chunk.length === 0) throw new ProtocolError('empty data frame');
        if (!sink.buf && chunk.length === sink.len) {
          // One piece: keep the received bytes (a plain Uint8Array view, no copy).
          sink.buf = plainView(chunk);
        } else {
          reserve(sink, chunk.length);
          sink.buf!.set(chunk, sink.filled);
        }
        sink.filled += chunk.length;
      }
      if (sink.filled === sink.len) {
        if (sink === inc.external) {
          this.externalDone(inc);
        } else {
          inc.blobsLeft--;
          this.maybeComplete(inc);
        }
      }
      return;
    }
    // stream part
    const st = sink.stream;
    if (st.cancelled) return; // we stopped reading; the sender has not seen our cancel yet
    if (st.ended) throw new ProtocolError('data after end of stream');
    if (flags & DF_ERROR) {
      const v = decodeValue(r);
      endOfFrame(r);
      st.finish(v instanceof Error ? v : new RtfmriError('stream failed'));
    } else {
      let chunk: Uint8Array;
      if (rawLen >= 0) {
        if (rawLen > this.limits.maxFrameSize * 4) throw new ProtocolError('compressed chunk too large');
        checkInflateRatio(rawLen, r.remaining);
        chunk = inflateExact(r.rest(), rawLen);
      } else chunk = plainView(r.rest());
      if (flags & DF_RAW && chunk.length === 0) throw new ProtocolError('empty data frame');
      if (chunk.length) st.push(chunk);
      if (flags & DF_END) st.finish();
    }
  }

  /**
   * Give up on the message of call `id` (if any): its open streams end with `err`; with
   * `notifySender`, the sender is told to stop sending them.
   */
  drop(dir: 0 | 1, id: number, err: Error, notifySender: boolean): void {
    const inc = this.msgs[dir].get(id);
    if (!inc) return;
    this.msgs[dir].delete(id);
    const base = inc.externalUsed ? 1 : 0;
    inc.parts.forEach((p, i) => {
      if (p.kind === 'stream' && !p.stream.ended) {
        p.stream.finish(err);
        if (notifySender) this.credit.sendCredit(inc.callId, inc.dir, i + base, 0, true);
      }
    });
  }

  /** The link closed: every message being received ends with `err`. */
  dropAll(err: Error): void {
    for (const dir of [0, 1] as const) for (const id of [...this.msgs[dir].keys()]) this.drop(dir, id, err, false);
  }
}

/** A plain Uint8Array over the same memory (a Node Buffer would otherwise leak out as a Buffer). */
function plainView(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function checkInflateRatio(rawLen: number, compressedLen: number): void {
  if (!inflateAllowed(rawLen, compressedLen)) {
    throw new ProtocolError(`compressed data claims ${rawLen} bytes from ${compressedLen} (more than ${MAX_INFLATE_RATIO}x)`);
  }
}

/** Byte parts above this size grow as their data arrives (a peer's declared size is not an allocation). */
const EAGER_ALLOC = 16 << 20;

/** Room in a byte part's buffer for `need` more bytes: at once up to EAGER_ALLOC, then doubling. */
function reserve(sink: PartSinkBlob, need: number): void {
  const want = sink.filled + need;
  if (sink.buf && sink.buf.length >= want) return;
  const cap = sink.len <= EAGER_ALLOC ? sink.len : Math.min(sink.len, Math.max(want, EAGER_ALLOC, (sink.buf?.length ?? 0) * 2));
  const grown = new Uint8Array(cap);
  if (sink.buf) grown.set(sink.buf.subarray(0, sink.filled));
  sink.buf = grown;
}

/** Inflate exactly `rawLen` bytes (into `out` when given); anything else is a ProtocolError. */
export function inflateExact(data: Uint8Array, rawLen: number, out?: Uint8Array): Uint8Array {
  const target = out ?? new Uint8Array(rawLen);
  let res: Uint8Array;
  try {
    res = inflateSync(data, { out: target });
  } catch {
    throw new ProtocolError('corrupt compressed data');
  }
  if (res.length !== rawLen) throw new ProtocolError('compressed data has the wrong length');
  return res;
}
