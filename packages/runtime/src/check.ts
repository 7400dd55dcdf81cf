// The CPU part of handing out a file: open, size gate, read, completeness check, anonymize.
// Runs the same code in the main thread (inline route) and in the Piscina worker (pool route).
import fs from 'node:fs';
import * as dicom from '@rtfmri/dicom-wasm';

export interface CheckRequest {
  path: string;
  minFileSize: number;
  /** Apply the DICOM completeness check (and anonymize when asked). */
  dicom: boolean;
  anonymize: boolean;
  /** Size and mtime of the last incomplete read: an unchanged file is not read again. */
  skipSize?: number;
  skipMtimeMs?: number;
}

export type CheckResult =
  | { status: 'missing' }
  | { status: 'symlink' }
  | { status: 'notfile' }
  | { status: 'small'; size: number }
  | { status: 'incomplete'; size: number; mtimeMs: number }
  | { status: 'ok'; size: number; bytes: Uint8Array };

// O_NOFOLLOW: a symlink is reported instead of read, so the caller re-checks its target against
// the allowed dirs (a link inside an allowed dir must not leak a file from outside).
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0);

type AllocInput = (len: number) => Uint8Array;
const allocInput: AllocInput | undefined = (dicom as unknown as { allocInput?: AllocInput }).allocInput;
type Anonymize = (bytes: Uint8Array, options?: { uidMap?: unknown }) => Uint8Array;

function anonymizeBytes(bytes: Uint8Array, uidMap: unknown): Uint8Array {
  const anonymize = (dicom as unknown as { anonymize?: Anonymize }).anonymize;
  // Never hand out identifiable bytes because a build lacks the anonymizer.
  if (!anonymize) throw new Error('@rtfmri/dicom-wasm has no anonymize(): refusing to deliver un-anonymized data');
  return anonymize(bytes, uidMap ? { uidMap } : undefined);
}

export function checkFile(req: CheckRequest, uidMap?: unknown): CheckResult {
  let fd: number;
  try {
    fd = fs.openSync(req.path, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'missing' };
    if (code === 'ELOOP' || code === 'EMLINK') return { status: 'symlink' };
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { status: 'notfile' };
    const size = st.size;
    if (size < req.minFileSize || size === 0) return { status: 'small', size };
    if (req.skipSize === size && req.skipMtimeMs === st.mtimeMs) return { status: 'incomplete', size, mtimeMs: st.mtimeMs };
    // Read straight into the wasm module's memory when it offers a buffer (no copy before the scan).
    const buf = req.dicom && allocInput ? allocInput(size) : new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    // The file shrank under us (rewritten): it is not whole.
    const bytes = off === size ? buf : buf.subarray(0, off);
    if (!req.dicom) return { status: 'ok', size: off, bytes: owned(bytes, buf) };
    if (!dicom.isComplete(bytes)) return { status: 'incomplete', size, mtimeMs: st.mtimeMs };
    if (req.anonymize) {
      const anon = anonymizeBytes(bytes, uidMap);
      return { status: 'ok', size: off, bytes: owned(anon, buf) };
    }
    return { status: 'ok', size: off, bytes: owned(bytes, buf) };
  } finally {
    fs.closeSync(fd);
  }
}

/** A result that owns its whole ArrayBuffer (transferable, not a view into reused wasm memory). */
function owned(bytes: Uint8Array, scratch: Uint8Array): Uint8Array {
  const shared = bytes.buffer === scratch.buffer && allocInput !== undefined;
  if (!shared && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes;
  if (!shared && bytes.buffer === scratch.buffer && scratch.byteLength === bytes.buffer.byteLength) {
    return bytes.byteLength === scratch.byteLength ? bytes : bytes.slice();
  }
  return bytes.slice();
}
