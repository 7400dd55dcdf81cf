// Sending a message: its value (inline, deflated, or external when too big for a frame) and its
// parts (blobs and streams) as DATA frames: chunking, compression per
// chunk, backpressure from the link, and the credit the receiver grants per stream. No Node-only
// imports.
import { deflateSync } from 'fflate';
import { ValidationError } from './errors.js';
import { borrowWriter, encodeErrorBounded, encodeValue, releaseWriter, Writer, type OutgoingPart } from './codec.js';
import { CF_CANCEL, DF_COMPRESSED, DF_DONE, DF_END, DF_ERROR, DF_RAW, DF_RESULT, F, inflateAllowed, MAX_INFLATED_VALUE, MF_COMPRESSED, MF_EXTERNAL, MF_PARTS } from './frames.js';
import type { Link } from './link.js';
import type { CallOptions } from './options.js';

/** Credit state of one outgoing stream part. */
export interface OutStream {
  credit: number;
  wake: (() => void) | null;
  cancelled: boolean;
}

/** What the pump needs of its RpcPeer. */
export interface PumpHost {
  readonly link: Link;
  /** The peer can still send (not closed). */
  open(): boolean;
  trySend(data: Uint8Array | readonly Uint8Array[]): boolean;
  /** Largest frame the link and the options allow, less room for headers. */
  frameBudget(): number;
  chunkSize(): number;
  readonly highWaterMark: number;
  /**
   * Bulk data (streams, parts of more than one chunk) waits while the link holds more than this:
   * small frames (replies, pings, credit, other calls' single-chunk parts) are then never queued
   * behind more than about this much of a transfer.
   */
  readonly bulkHighWaterMark: number;
}

/** Chunks at least this big go as a DATA header followed by the chunk as its own message. */
const RAW_MIN = 16 * 1024;
/** A stream chunk is cut to the credit left, but not below this. */
const MIN_STREAM_CHUNK = 16 * 1024;

/** A CREDIT frame: `bytes` more for a stream part, or (cancel) stop sending it. */
export function creditFrame(callId: number, dir: 0 | 1, part: number, bytes: number, cancel: boolean): Uint8Array {
  const w = borrowWriter();
  w.u8(F.Credit);
  w.varint(callId);
  w.u8((dir ? DF_RESULT : 0) | (cancel ? CF_CANCEL : 0));
  w.varint(part);
  w.varint(bytes);
  const out = w.take();
  releaseWriter(w);
  return out;
}

/** Apply a received CREDIT to the stream it is for. */
export function applyCredit(os: OutStream | undefined, flags: number, bytes: number): void {
  if (!os) return;
  if (flags & CF_CANCEL) os.cancelled = true;
  else os.credit += bytes;
  const wake = os.wake;
  os.wake = null;
  wake?.();
}

export class Outbound {
  /** Streams of requests we send, by call id then part (results keep theirs on the Serving record). */
  private readonly reqStreams = new Map<number, Map<number, OutStream>>();

  constructor(private readonly host: PumpHost) {}

  requestStreams(id: number): Map<number, OutStream> | undefined {
    return this.reqStreams.get(id);
  }

  /** The link closed: wake every waiting stream pump so it sees that and stops. */
  wakeAll(): void {
    for (const [, os] of this.reqStreams) for (const [, s] of os) s.wake?.();
  }

  /** Send the parts of one message: blobs in order, streams concurrently, respecting backpressure. */
  async pumpParts(
    id: number,
    dir: 0 | 1,
    parts: OutgoingPart[],
    sending: { aborted: boolean },
    compress: CallOptions['compress'],
    outStreams: Map<number, OutStream> | null,
  ): Promise<void> {
    const streamJobs: Promise<void>[] = [];
    let streams = outStreams;
    if (!streams && parts.some((p) => p.kind === 'stream')) {
      streams = new Map();
      this.reqStreams.set(id, streams);
    }
    // Register every stream before anything is awaited: the receiver's first CREDIT (its window)
    // may come back before we reach that part.
    parts.forEach((p, i) => {
      if (p.kind === 'stream') streams!.set(i, { credit: 0, wake: null, cancelled: false });
    });
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i];
        if (part.kind === 'blob') {
          await this.pumpBlob(id, dir, i, part.bytes, sending, compress);
        } else {
          streamJobs.push(this.pumpStream(id, dir, i, part.source, sending, streams!.get(i)!, compress));
        }
        if (sending.aborted || !this.host.open()) break;
      }
      if (streamJobs.length) await Promise.all(streamJobs);
      // DONE after the parts of a result (part of the wire format; a receiver ignores it).
      if (!sending.aborted && dir === 1) this.host.trySend(dataHeader(id, DF_RESULT | DF_DONE, 0, undefined));
    } finally {
      if (dir === 0) this.reqStreams.delete(id);
    }
  }

  /**
   * Big chunks go as a DATA header followed by the chunk as its own message: no copy to join
   * them, no fragmented WebSocket message, and the receiver takes the bytes as they are.
   */
  private sendChunk(id: number, flags: number, part: number, chunk: Uint8Array): boolean {
    if (chunk.length >= RAW_MIN) {
      return this.host.trySend(dataHeader(id, flags | DF_RAW, part, undefined)) && this.host.trySend(chunk);
    }
    const w = new Writer(24 + chunk.length);
    w.u8(F.Data);
    w.varint(id);
    w.u8(flags);
    w.varint(part);
    w.bytes(chunk);
    return this.host.trySend(w.finish());
  }

  private async waitWritable(): Promise<void> {
    const { link, highWaterMark } = this.host;
    if (link.bufferedAmount > highWaterMark) await link.drain(highWaterMark / 2);
  }

  /** The bulk mark now: the link's while it asks bulk data to yield more, else the RPC's. */
  private bulkMark(): number {
    return this.host.link.bulkHighWaterMark ?? this.host.bulkHighWaterMark;
  }

  /** The size of the next bulk chunk: the link's while it asks bulk data to yield more, else the RPC's. */
  private bulkChunk(size: number): number {
    const s = this.host.link.bulkChunkSize;
    return s !== undefined && s > 0 && s < size ? s : size;
  }

  /** Room for one more bulk chunk: the link's (bulk) backlog under the bulk mark. */
  private bulkFull(): boolean {
    const link = this.host.link;
    return (link.bulkBufferedAmount ?? link.bufferedAmount) > this.bulkMark();
  }

  private async waitBulk(): Promise<void> {
    while (this.bulkFull() && this.host.open()) await this.host.link.drain(this.bulkMark() / 2, true);
  }

  private async pumpBlob(id: number, dir: 0 | 1, part: number, bytes: Uint8Array, sending: { aborted: boolean }, compress: CallOptions['compress']): Promise<void> {
    const host = this.host;
    const size = host.chunkSize();
    let doCompress = !!compress;
    // A part of more than one chunk is bulk: it yields to small frames (see bulkHighWaterMark).
    const bulk = bytes.length > size;
    for (let off = 0; off < bytes.length; ) {
      // No await unless the link is full: a one-chunk blob then goes out in the same tick as its
      // header frame (and the ws link sends everything of one tick in one write).
      if (bulk ? this.bulkFull() : host.link.bufferedAmount > host.highWaterMark) await (bulk ? this.waitBulk() : this.waitWritable());
      if (sending.aborted || !host.open()) return;
      const chunk = bytes.subarray(off, Math.min(bytes.length, off + (bulk ? this.bulkChunk(size) : size)));
      off += chunk.length;
      let flags = dir ? DF_RESULT : 0;
      if (doCompress) {
        const z = deflateSync(chunk, { level: 1 });
        if (z.length < chunk.length * 0.9 && z.length + 32 <= host.frameBudget()) {
          flags |= DF_COMPRESSED;
          if (!host.trySend([dataHeader(id, flags, part, chunk.length), z])) return;
          continue;
        }
        // 'auto': stop trying once a chunk does not pay.
        if (compress === 'auto') doCompress = false;
      }
      if (!this.sendChunk(id, flags, part, chunk)) return;
    }
  }

  private async pumpStream(
    id: number,
    dir: 0 | 1,
    part: number,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    sending: { aborted: boolean },
    os: OutStream,
    compress: CallOptions['compress'],
  ): Promise<void> {
    const host = this.host;
    const size = host.chunkSize();
    const base = dir ? DF_RESULT : 0;
    let doCompress = !!compress;
    try {
      for await (const piece of source as AsyncIterable<Uint8Array>) {
        if (!(piece instanceof Uint8Array)) throw new ValidationError('a ByteStream must yield Uint8Arrays');
        for (let off = 0; off < piece.length; ) {
          while (os.credit <= 0 && !os.cancelled && !sending.aborted && host.open()) {
            await new Promise<void>((res) => (os.wake = res));
          }
          if (this.bulkFull()) await this.waitBulk();
          if (os.cancelled || sending.aborted || !host.open()) return;
          // No more than the credit (a receiver that shrank its window gets small chunks), nor
          // silly small ones.
          const n = Math.min(this.bulkChunk(size), Math.max(os.credit, MIN_STREAM_CHUNK));
          const chunk = piece.subarray(off, Math.min(piece.length, off + n));
          off += chunk.length;
          os.credit -= chunk.length;
          if (doCompress) {
            const z = deflateSync(chunk, { level: 1 });
            if (z.length < chunk.length * 0.9) {
              if (!host.trySend([dataHeader(id, base | DF_COMPRESSED, part, chunk.length), z])) return;
              continue;
            }
            if (compress === 'auto') doCompress = false;
          }
          if (!this.sendChunk(id, base, part, chunk)) return;
        }
      }
      if (!os.cancelled && !sending.aborted) host.trySend(dataHeader(id, base | DF_END, part, undefined));
    } catch (e) {
      if (os.cancelled || sending.aborted || !host.open()) return;
      const w = new Writer(128);
      w.bytes(dataHeader(id, base | DF_ERROR, part, undefined));
      encodeErrorBounded(e, w);
      host.trySend(w.finish());
    }
  }
}

/** A DATA frame's header (the payload, if any, follows as another part or message). */
function dataHeader(id: number, flags: number, part: number, rawLen: number | undefined): Uint8Array {
  const w = borrowWriter();
  w.u8(F.Data);
  w.varint(id);
  w.u8(flags);
  w.varint(part);
  if (rawLen !== undefined) w.varint(rawLen);
  const out = w.take();
  releaseWriter(w);
  return out;
}

/**
 * Complete a Request/Result frame whose header (flags byte at `flagPos`) is in the borrowed
 * writer `w`: append the value (parts go to `parts`) and copy the frame out. Big or compressed
 * values take the slow path. The caller releases `w`.
 */
export function finishFrame(
  w: Writer,
  flagPos: number,
  value: unknown,
  compress: CallOptions['compress'],
  parts: OutgoingPart[],
  encodeOpts: { inlineLimit: number },
  budget: number,
): Uint8Array {
  const bodyStart = w.pos;
  encodeValue(value, parts, w, encodeOpts);
  if ((!compress || w.pos - bodyStart <= 256) && w.pos + 24 <= budget) {
    if (parts.length) w.buf[flagPos] |= MF_PARTS;
    return w.take();
  }
  const body = w.buf.slice(bodyStart, w.pos);
  w.pos = bodyStart;
  w.buf[flagPos] |= writeBody(w, body, compress, parts, budget);
  return w.take();
}

/** Append the value (inline, compressed, or external) to a Request/Result header; returns flags. */
function writeBody(w: Writer, body: Uint8Array, compress: CallOptions['compress'], parts: OutgoingPart[], budget: number): number {
  let flags = 0;
  let payload = body;
  if (compress && body.length > 256) {
    const z = deflateSync(body, { level: 1 });
    // Never what the receiver refuses (see frames.ts): such a value goes uncompressed.
    if (z.length < body.length * 0.9 && body.length <= MAX_INFLATED_VALUE && inflateAllowed(body.length, z.length)) {
      payload = z;
      flags |= MF_COMPRESSED;
    }
  }
  if (payload.length + w.pos + 24 > budget) {
    flags |= MF_EXTERNAL;
    if (flags & MF_COMPRESSED) w.varint(body.length);
    w.varint(payload.length);
    parts.unshift({ kind: 'blob', bytes: payload });
    // The external value is sent uncompressed-per-chunk: it is already deflated if asked.
    return flags | MF_PARTS;
  }
  if (flags & MF_COMPRESSED) w.varint(body.length);
  w.bytes(payload);
  return flags | (parts.length ? MF_PARTS : 0);
}
