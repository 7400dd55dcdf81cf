// Local files of the experiment's machine in chunks (Node only; issue 11): read as a stream for a
// putFile (exactly the size at the open; a file that grows, shrinks or is written to meanwhile
// fails the transfer), and written as chunks arrive to a temp file renamed into place (never a
// partial file under the final name). File-system failures become the transport's typed errors.
import fs from 'node:fs';
import path from 'node:path';
import { NotFoundError, RtfmriError, StateError, ValidationError } from '@rtfmri/transport';
import { tempNameFor } from '@rtfmri/files';

const CHUNK = 1 << 20;

/** A typed error for a local file-system failure (errno in details.reason), as the runtime maps its own. */
export function localFsError(err: unknown, shown: string): Error {
  if (err instanceof RtfmriError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string') return err instanceof Error ? err : new Error(String(err));
  const details = { reason: code, path: shown };
  switch (code) {
    case 'ENOENT': return new NotFoundError(`File not found ${shown}`, { details });
    case 'ENOSPC': return new StateError(`${shown}: no space left on device`, { details });
    case 'EDQUOT': return new StateError(`${shown}: disk quota exceeded`, { details });
    case 'EIO': return new StateError(`${shown}: input/output error`, { details });
    case 'EMFILE':
    case 'ENFILE': return new StateError(`${shown}: too many open files`, { details });
    case 'EACCES':
    case 'EPERM': return new ValidationError(`${shown}: permission denied`, { details });
    case 'EISDIR': return new ValidationError(`${shown} is a directory`, { details });
    case 'EROFS': return new ValidationError(`${shown}: read-only file system`, { details });
    default: return new StateError(`${shown}: file system error ${code}`, { details });
  }
}

function changed(shown: string, what: string): StateError {
  return new StateError(`${shown} changed during the transfer (${what})`, { details: { reason: 'CHANGED', path: shown } });
}

async function readExactly(fh: fs.promises.FileHandle, pos: number, len: number, shown: string): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafeSlow(len);
  let off = 0;
  while (off < len) {
    const { bytesRead } = await fh.read(buf, off, len - off, pos + off);
    if (bytesRead === 0) throw changed(shown, `it ended at ${pos + off} bytes, ${len - off} short of its size at the start`);
    off += bytesRead;
  }
  return buf;
}

/**
 * A read ahead is awaited only after the previous chunk was taken: mark its failure handled now
 * (it still rejects when awaited), or a rejection while the generator waits at a yield is an
 * unhandled rejection, which ends a Node process.
 */
function handledLater<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * The bytes of a local file in 1 MiB chunks, read ahead by one: exactly its size at the open, then
 * a check that size and mtime did not change (else a StateError, details.reason 'CHANGED').
 */
export async function* readLocalFile(file: string): AsyncGenerator<Uint8Array> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (err) {
    throw localFsError(err, file);
  }
  let next: Promise<Uint8Array> | null = null;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ValidationError(`${file} is not a regular file`, { details: { path: file } });
    const size = st.size;
    let pos = 0;
    if (size > 0) next = handledLater(readExactly(fh, 0, Math.min(CHUNK, size), file));
    while (next) {
      const chunk = await next;
      next = null;
      pos += chunk.length;
      if (pos < size) next = handledLater(readExactly(fh, pos, Math.min(CHUNK, size - pos), file));
      yield chunk;
    }
    const end = await fh.stat();
    if (end.size !== size) throw changed(file, `size ${size} at the start, ${end.size} at the end`);
    if (end.mtimeMs !== st.mtimeMs) throw changed(file, 'it was written to while being read');
  } catch (err) {
    throw localFsError(err, file);
  } finally {
    if (next) await next.catch(() => undefined);
    await fh.close().catch(() => undefined);
  }
}

/**
 * Writes `source` to `dest` whole or not at all: chunk by chunk into a hidden temp file beside it
 * (each write awaited, so the sender's flow control holds memory to its window), renamed over
 * `dest` once the source ended, and, with `size`, held exactly that many bytes. On any failure
 * (the source's typed error, ENOSPC, a dropped link) the temp file is removed and `dest` untouched.
 * Creates `dest`'s folder. Returns the bytes written.
 */
export async function writeLocalFile(dest: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, size?: number): Promise<number> {
  const tmp = tempNameFor(dest);
  let total = 0;
  try {
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    const fh = await fs.promises.open(tmp, 'wx');
    try {
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, null);
          off += bytesWritten;
        }
        total += chunk.length;
      }
    } finally {
      await fh.close();
    }
    if (size !== undefined && total !== size) throw changed(dest, `${total} of ${size} bytes arrived`);
    await fs.promises.rename(tmp, dest);
    return total;
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw localFsError(err, dest);
  }
}
