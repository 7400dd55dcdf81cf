// Large files in chunks, off the event loop (issue 11): reads from an open, verified descriptor in
// 1 MiB pieces through libuv's thread pool (a synchronous read of 1 GiB stalled the event loop for
// ~3 s and starved the link's liveness), and writes a streamed putFile chunk by chunk. A file
// that changes while it is read (grows, shrinks, or is rewritten: size or mtime differ from the
// open) fails the transfer with a typed error instead of delivering a mix.
import fs from 'node:fs';
import { StateError, ValidationError } from './errors.js';

/** Bytes per read (the RPC's chunk size: one read, one DATA frame). */
export const FILE_CHUNK = 1 << 20;
/**
 * The credit the runtime grants a stream it receives (a remote putFile of a large file): it writes
 * the chunks to disk, slower than the link delivers them, so the window is always full; 4 MiB
 * rather than the transport's 16 MiB keeps those chunks young (see the SDK's STREAM_WINDOW).
 */
export const STREAM_WINDOW = 4 << 20;

/** Files up to this size are read in one synchronous call (a 457 KB volume: ~25 us); larger ones in chunks. */
export const SYNC_READ_MAX = 1 << 20;

/** The typed error of a file that changed during a transfer (details.reason 'CHANGED'). */
export function changedError(shown: string, what: string): StateError {
  return new StateError(`${shown} changed during the transfer (${what}); nothing was delivered as the file`, { details: { reason: 'CHANGED', path: shown } });
}

/**
 * Memory for the chunks of a file stream that is reused once a chunk has left the process (the
 * runtime service lends it per session: ReplyBuffers.chunkMemory). Without it, every chunk is a
 * fresh 1 MiB: an allocation, page faults, and a share of the young collections.
 */
export interface ChunkMemory {
  /** Memory for a chunk of `len` bytes (reused or fresh). */
  take(len: number): Uint8Array;
  /** The chunk is handed to the sender now: its memory is free again once it has left this process. */
  lend(chunk: Uint8Array): void;
  /** The chunk was read but never handed on (the reading stopped): its memory is free now. */
  release(chunk: Uint8Array): void;
}

/** Reads exactly `len` bytes at `pos` (fewer: the file shrank, a CHANGED error). */
export async function readChunk(fd: number, pos: number, len: number, shown: string, mem?: ChunkMemory): Promise<Uint8Array> {
  const buf = mem ? mem.take(len) : Buffer.allocUnsafeSlow(len);
  let off = 0;
  while (off < len) {
    let n: number;
    try {
      n = await new Promise<number>((res, rej) => fs.read(fd, buf, off, len - off, pos + off, (e, k) => (e ? rej(e) : res(k))));
    } catch (e) {
      mem?.release(buf);
      throw e;
    }
    if (n === 0) {
      mem?.release(buf);
      throw changedError(shown, `it ended at ${pos + off} bytes, ${len - off} short of its size at the start`);
    }
    off += n;
  }
  return buf;
}

/**
 * A chunk read ahead while the previous one is being sent: its failure (the file shrank) is
 * observed when it is awaited, not earlier, so it is marked handled now; otherwise a rejection
 * while the generator waits at a yield is an unhandled rejection, which ends a Node process.
 */
function readAhead(fd: number, pos: number, len: number, shown: string, mem?: ChunkMemory): Promise<Uint8Array> {
  const p = readChunk(fd, pos, len, shown, mem);
  p.catch(() => undefined);
  return p;
}

function fstat(fd: number): Promise<fs.Stats> {
  return new Promise((res, rej) => fs.fstat(fd, (e, st) => (e ? rej(e) : res(st))));
}

/** Throws CHANGED unless the open file still has the size and mtime it had at the start. */
export async function checkUnchanged(fd: number, size: number, mtimeMs: number, shown: string): Promise<void> {
  const st = await fstat(fd);
  if (st.size !== size) throw changedError(shown, `size ${size} at the start, ${st.size} at the end`);
  if (st.mtimeMs !== mtimeMs) throw changedError(shown, 'it was written to while being read');
}

/** The whole file into one buffer (`alloc(size)` or fresh memory), read in chunks off the event loop. */
export async function readAllAsync(fd: number, st: fs.Stats, shown: string, alloc?: (size: number) => Uint8Array, first?: Uint8Array): Promise<Uint8Array> {
  const size = st.size;
  if (size > MAX_BYTES) throw new ValidationError(`${shown} is ${size} bytes: too large to return as one byte array (at most ${MAX_BYTES}); read it as a stream (getFileStream)`, { details: { reason: 'EFBIG', path: shown } });
  const out = alloc ? alloc(size) : Buffer.allocUnsafeSlow(size);
  let off = 0;
  if (first) {
    out.set(first, 0);
    off = first.length;
  }
  while (off < size) {
    const len = Math.min(FILE_CHUNK, size - off);
    const n = await new Promise<number>((res, rej) => fs.read(fd, out, off, len, off, (e, k) => (e ? rej(e) : res(k))));
    if (n === 0) throw changedError(shown, `it ended at ${off} bytes, ${size - off} short of its size at the start`);
    off += n;
  }
  await checkUnchanged(fd, size, st.mtimeMs, shown);
  return out;
}

/** The largest byte array a getFile can return here. */
export const MAX_BYTES = Math.min(2 ** 32, Number.MAX_SAFE_INTEGER);

/** Closes descriptors of streams that were never read (a call cancelled before its pump started). */
const unread = new FinalizationRegistry<number>((fd) => fs.close(fd, () => undefined));

/**
 * The chunks of an open, verified file: exactly the size it had at the open, read ahead by one
 * chunk, then a check that it did not change meanwhile. Read once; the descriptor is closed when
 * the reading ends, stops early, or (never read) when this object is collected or close()d.
 */
export class FileChunks implements AsyncIterable<Uint8Array> {
  readonly size: number;
  private fd: number | null;
  private started = false;

  constructor(
    fd: number,
    private readonly st: fs.Stats,
    private readonly shown: string,
    /** Bytes already read from the start (e.g. to tell DICOM from other content). */
    private readonly first?: Uint8Array,
    /** Reused memory for the chunks (see ChunkMemory); fresh memory per chunk without. */
    private readonly mem?: ChunkMemory,
  ) {
    this.fd = fd;
    this.size = st.size;
    unread.register(this, fd, this);
  }

  /** Gives the descriptor back without reading (no-op once reading has started: it closes itself). */
  close(): void {
    if (this.started || this.fd === null) return;
    unread.unregister(this);
    fs.close(this.fd, () => undefined);
    this.fd = null;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.started || this.fd === null) throw new ValidationError('a file stream can be read once');
    this.started = true;
    unread.unregister(this);
    const fd = this.fd;
    const { size, shown, mem } = this;
    let pos = 0;
    let next: Promise<Uint8Array> | null = null;
    try {
      if (this.first?.length) {
        pos = this.first.length;
        if (pos < size) next = readAhead(fd, pos, Math.min(FILE_CHUNK, size - pos), shown, mem);
        yield this.first;
      } else if (size > 0) {
        next = readAhead(fd, 0, Math.min(FILE_CHUNK, size), shown, mem);
      }
      while (next) {
        const chunk = await next;
        next = null;
        pos += chunk.length;
        // Read ahead: the next chunk comes off the disk while this one is sent.
        if (pos < size) next = readAhead(fd, pos, Math.min(FILE_CHUNK, size - pos), shown, mem);
        // From here the sender has it: its memory is reused only once it has left this process.
        mem?.lend(chunk);
        yield chunk;
      }
      await checkUnchanged(fd, size, this.st.mtimeMs, shown);
    } finally {
      // A read still in flight must finish before its descriptor is closed (the number could be
      // reused); a chunk read ahead and never handed on gives its memory back.
      if (next) {
        const unsent = await next.catch(() => undefined);
        if (unsent) mem?.release(unsent);
      }
      this.fd = null;
      fs.close(fd, () => undefined);
    }
  }
}

/** What a streamed putFile accepts: async or sync iterables of bytes (Node Readables yield Buffers; strings are UTF-8). */
export function isByteSource(d: unknown): d is AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> {
  if (d === null || typeof d !== 'object' || d instanceof Uint8Array || ArrayBuffer.isView(d)) return false;
  return typeof (d as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' || typeof (d as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/** Writes every chunk of `source` to `fh` in order, each write awaited (the source's sender waits meanwhile). */
export async function writeChunks(fh: fs.promises.FileHandle, source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>): Promise<number> {
  let total = 0;
  for await (const piece of source as AsyncIterable<Uint8Array | string>) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    if (!(chunk instanceof Uint8Array)) throw new ValidationError('putFile: a data stream must yield bytes (Uint8Array) or strings');
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, null);
      off += bytesWritten;
    }
    total += chunk.length;
  }
  return total;
}
