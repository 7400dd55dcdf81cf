// Large files through the remote DataInterface (issue 11). No Node-only imports (the browser build
// uses it too).
//
// A remote getFile of a large non-DICOM file answers `{ size, stream }`: the runtime reads the file
// from disk in chunks as the link takes them (transport's flow-controlled stream part), instead of
// holding it whole. getFile collects it into one array of the announced size (allocated once);
// getFileStream hands the chunks on as they arrive. A putFile of more than a chunk travels the
// other way as a stream, written to disk by the runtime as it arrives.
import { ByteStream, IncomingStream, StateError, ValidationError } from '@rtfmri/transport';

/**
 * A file read as a stream: `for await (const chunk of s)` (about 1 MiB per chunk), or `s.readable()`
 * for a WHATWG ReadableStream. Exactly `size` bytes; reading fails with a typed error when the
 * file changed on the runtime during the transfer (StateError, details.reason 'CHANGED') or the
 * link dropped (DisconnectedError). Read once.
 */
export interface FileStream extends AsyncIterable<Uint8Array> {
  /** The file's size when the runtime opened it. */
  readonly size: number;
  /** Stop reading (before or while reading): the runtime stops sending and closes the file. */
  cancel(): void;
  /** The same bytes as a ReadableStream<Uint8Array> (browsers; Node >= 18). */
  readable(): ReadableStream<Uint8Array>;
}

/**
 * The credit this side grants a stream it receives (a large getFile, getFileStream), in bytes. A
 * consumer that writes to disk is slower than the link, so its stream's window is always full:
 * with the transport's default 16 MiB those chunks outlived several young-generation collections
 * and were promoted (experiment peak RSS 142-149 MiB writing 1 GiB; 96 MiB with 4 MiB, same
 * throughput on loopback). Over a WAN it bounds a stream to window / round-trip time (4 MiB at
 * 50 ms: ~80 MB/s).
 */
export const STREAM_WINDOW = 4 << 20;

/** Bytes and strings up to this size travel in the call itself; larger ones (and any stream) as a stream. */
export const STREAM_PUT_MIN = 1 << 20;
/** Chunks a large putFile's bytes are cut into (the RPC's chunk size). */
const PUT_CHUNK = 1 << 20;
/** The largest file getFile returns as one byte array (larger ones: getFileStream). */
export const MAX_GETFILE_BYTES = 2 ** 32 - 1;

interface Streamed {
  size: number;
  stream: IncomingStream;
}

function isStreamed(v: unknown): v is Streamed {
  return typeof v === 'object' && v !== null && typeof (v as Streamed).size === 'number' && (v as Streamed).stream instanceof IncomingStream;
}

function changed(shown: string, what: string): StateError {
  return new StateError(`${shown} changed during the transfer (${what})`, { details: { reason: 'CHANGED', path: shown } });
}

function streamedOf(v: unknown, shown: string): Streamed {
  if (!isStreamed(v)) throw new ValidationError(`getFile ${shown}: unexpected answer from the runtime (neither bytes nor a file stream)`);
  return v;
}

/** A remote getFile's answer as bytes: a streamed file is collected into one array of its size, allocated once. */
export async function collectFile(v: unknown, shown: string): Promise<Uint8Array> {
  if (v instanceof Uint8Array) return v;
  const { size, stream } = streamedOf(v, shown);
  if (size > MAX_GETFILE_BYTES) {
    stream.cancel();
    throw new ValidationError(`getFile ${shown}: ${size} bytes is too large for one byte array; read it with getFileStream`, { details: { reason: 'EFBIG', path: shown } });
  }
  const out = new Uint8Array(size);
  let off = 0;
  for await (const chunk of stream) {
    // (leaving the loop by a throw cancels the stream)
    if (off + chunk.length > size) throw changed(shown, `more than the ${size} bytes announced`);
    out.set(chunk, off);
    off += chunk.length;
  }
  if (off !== size) throw changed(shown, `${off} of the ${size} bytes announced`);
  return out;
}

/** A remote getFile's answer as a FileStream (bytes answered for a small file become one chunk). */
export function fileStreamOf(v: unknown, shown: string): FileStream {
  if (v instanceof Uint8Array) return makeFileStream(v.length, (async function* () { if (v.length) yield v; })(), () => undefined);
  const { size, stream } = streamedOf(v, shown);
  async function* checked(): AsyncGenerator<Uint8Array> {
    let off = 0;
    for await (const chunk of stream) {
      off += chunk.length;
      if (off > size) throw changed(shown, `more than the ${size} bytes announced`);
      yield chunk;
    }
    if (off !== size) throw changed(shown, `${off} of the ${size} bytes announced`);
  }
  return makeFileStream(size, checked(), () => stream.cancel());
}

/** A FileStream over `chunks` (read once). */
export function makeFileStream(size: number, chunks: AsyncIterator<Uint8Array> & AsyncIterable<Uint8Array>, cancel: () => void): FileStream {
  let taken = false;
  const take = () => {
    if (taken) throw new ValidationError('a file stream can be read once');
    taken = true;
    return chunks;
  };
  return {
    size,
    cancel() {
      cancel();
      void chunks.return?.(undefined);
    },
    [Symbol.asyncIterator]: () => take(),
    readable() {
      const it = take();
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const r = await it.next();
            if (r.done) controller.close();
            else controller.enqueue(r.value);
          } catch (e) {
            controller.error(e);
          }
        },
        cancel() {
          cancel();
          void it.return?.(undefined);
        },
      });
    },
  };
}

/** What putFile accepts: a string (UTF-8), bytes, or a stream of bytes (async/sync iterable, ReadableStream). */
export type PutFileSource = string | Uint8Array | ArrayBuffer | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array> | ReadableStream<Uint8Array>;

function isReadableStream(v: unknown): v is ReadableStream<Uint8Array> {
  return typeof ReadableStream !== 'undefined' && v instanceof ReadableStream;
}

function isIterable(v: unknown): v is AsyncIterable<unknown> | Iterable<unknown> {
  return typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) &&
    (typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' || typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function');
}

const enc = new TextEncoder();

/** The pieces of any byte source as Uint8Arrays (strings are UTF-8). */
async function* bytesOf(source: AsyncIterable<unknown> | Iterable<unknown> | ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (isReadableStream(source)) {
    const reader = source.getReader();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) return;
        yield toBytes(r.value);
      }
    } finally {
      reader.releaseLock();
    }
  }
  for await (const piece of source as AsyncIterable<unknown>) yield toBytes(piece);
}

function toBytes(piece: unknown): Uint8Array {
  if (piece instanceof Uint8Array) return piece;
  if (typeof piece === 'string') return enc.encode(piece);
  if (piece instanceof ArrayBuffer) return new Uint8Array(piece);
  if (ArrayBuffer.isView(piece)) return new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength);
  throw new ValidationError('putFile: a data stream must yield bytes (Uint8Array) or strings');
}

function* slices(bytes: Uint8Array): Generator<Uint8Array> {
  for (let off = 0; off < bytes.length; off += PUT_CHUNK) yield bytes.subarray(off, Math.min(bytes.length, off + PUT_CHUNK));
}

/**
 * putFile's data as it travels: bytes and strings up to STREAM_PUT_MIN in the call; larger ones
 * and any stream as a ByteStream (flow-controlled: the runtime writes each chunk as it arrives, so
 * neither side holds the file). `streamed` tells the caller the call may last as long as the transfer.
 */
export function wireData(data: unknown): { value: unknown; streamed: boolean } {
  if (typeof data === 'string') {
    if (data.length * 3 <= STREAM_PUT_MIN) return { value: data, streamed: false };
    const bytes = enc.encode(data);
    return bytes.length <= STREAM_PUT_MIN ? { value: data, streamed: false } : { value: new ByteStream(slices(bytes)), streamed: true };
  }
  if (data instanceof ArrayBuffer) data = new Uint8Array(data);
  if (data instanceof Uint8Array) return data.length <= STREAM_PUT_MIN ? { value: data, streamed: false } : { value: new ByteStream(slices(data)), streamed: true };
  if (data instanceof ByteStream) return { value: data, streamed: true };
  if (isReadableStream(data) || isIterable(data)) return { value: new ByteStream(bytesOf(data)), streamed: true };
  if (typeof data === 'object' && data !== null && typeof (data as { path?: unknown }).path === 'string') {
    throw new ValidationError("putFile: { path } (a local file) needs the Node SDK's DataInterface (@rtfmri/sdk); here pass the bytes or a stream");
  }
  return { value: data, streamed: false };
}
