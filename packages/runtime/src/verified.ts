// File-system operations on what was checked (DESIGN "Trust model"): open once, find the real path
// of the open descriptor, check *that* against the policy, then read or write through the
// descriptor. A path checked first and opened again later can be redirected in between (a folder
// swapped for a symlink); a descriptor cannot. Runs in the main thread and in the pool's workers,
// so the policy travels as plain data (`PolicySnapshot`).
import fs from 'node:fs';
import path from 'node:path';
import { isWithin } from '@rtfmri/files';

/** The allowed dirs (canonical: realpath'd) and file types ('.dcm', lower case); null = all ('*'). */
export interface PolicySnapshot {
  dirs: readonly string[] | null;
  types: readonly string[] | null;
}

export function snapshotAllowsDir(snap: PolicySnapshot, real: string): boolean {
  return snap.dirs === null || snap.dirs.some((d) => isWithin(real, d));
}

export function snapshotAllowsType(snap: PolicySnapshot, name: string): boolean {
  if (snap.types === null) return true;
  const ext = path.extname(name).toLowerCase();
  return ext !== '' && snap.types.includes(ext);
}

const PROC_FD = '/proc/self/fd/';
const DELETED = ' (deleted)';

/** Linux: `/proc/self/fd/N` names the open descriptor N (openat-style access through it). */
export const HAS_PROC_FD = process.platform === 'linux' && (() => {
  try {
    return fs.statSync('/proc/self/fd').isDirectory();
  } catch {
    return false;
  }
})();

/** `/proc/self/fd/N/name`: a name looked up inside the folder open as `fd`, wherever that folder is now (Linux). */
export function inFd(fd: number, name: string): string {
  return `${PROC_FD}${fd}/${name}`;
}

/**
 * The real path of an open file or folder: on Linux the kernel's name for the descriptor
 * (`/proc/self/fd/N`); elsewhere the realpath of the name it was opened by, accepted only if that
 * still is the same file (device and inode). null: no path names it any more (deleted) or the
 * name now leads elsewhere (elsewhere-route), i.e. nothing to check it against.
 */
export function realPathOfFd(fd: number, openedAs: string, st: fs.Stats): string | null {
  if (HAS_PROC_FD) {
    let p: string;
    try {
      p = fs.readlinkSync(PROC_FD + fd);
    } catch {
      return null;
    }
    // An unlinked file or folder: its last name plus " (deleted)" (checked by that last name).
    if (p.endsWith(DELETED) && st.nlink === 0) p = p.slice(0, -DELETED.length);
    return path.isAbsolute(p) ? p : null;
  }
  let real: string;
  try {
    real = fs.realpathSync.native(openedAs);
  } catch {
    return null;
  }
  const again = fs.statSync(real, { throwIfNoEntry: false });
  return again && again.dev === st.dev && again.ino === st.ino ? real : null;
}

// Follows symlinks (a link's *target* is what gets checked), never blocks on a FIFO (O_NONBLOCK:
// a regular file reads as usual), no controlling terminal.
const READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0);
const DIR_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_DIRECTORY ?? 0);

export type OpenForRead =
  | { status: 'open'; fd: number; st: fs.Stats; real: string }
  | { status: 'missing' }
  /** The descriptor's real path is outside the allowed dirs ('dir') or has a disallowed type ('type'). */
  | { status: 'refused'; why: 'dir' | 'type'; real: string }
  | { status: 'directory'; real: string }
  | { status: 'notfile'; real: string };

/**
 * Opens `p` for reading and checks the open descriptor: real path inside the allowed dirs; a
 * folder or a non-regular file reported as such; then the file type of both the requested name
 * and the real one (a symlink's target counts). Only 'open' leaves the descriptor open.
 * Errors other than "no such file" are thrown (errno codes, for the caller to map).
 */
export function openForRead(p: string, snap: PolicySnapshot): OpenForRead {
  let fd: number;
  try {
    fd = fs.openSync(p, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'missing' };
    throw err;
  }
  let keep = false;
  try {
    const st = fs.fstatSync(fd);
    const real = realPathOfFd(fd, p, st);
    if (real === null) return { status: 'missing' };
    if (!snapshotAllowsDir(snap, real)) return { status: 'refused', why: 'dir', real };
    if (st.isDirectory()) return { status: 'directory', real };
    if (!st.isFile()) return { status: 'notfile', real };
    if (!snapshotAllowsType(snap, p) || !snapshotAllowsType(snap, real)) return { status: 'refused', why: 'type', real };
    keep = true;
    return { status: 'open', fd, st, real };
  } finally {
    if (!keep) fs.closeSync(fd);
  }
}

/** Reads the whole file from an open descriptor (its size now; bytes appended meanwhile are not included). */
export function readAllFd(fd: number, size: number, alloc?: (size: number) => Uint8Array): Uint8Array {
  const out = alloc ? alloc(size) : Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = fs.readSync(fd, out, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return off === size ? out : out.subarray(0, off);
}

/** An open folder whose real path was checked. */
export interface VerifiedDir {
  fd: number;
  real: string;
}

/**
 * Opens a folder and checks its real path. null: it is gone (or was removed while we looked);
 * { refused }: it is (now) outside the allowed dirs. Other errors (ENOTDIR, EACCES, ...) are thrown.
 */
export function openDirVerified(p: string, snap: PolicySnapshot): VerifiedDir | { refused: string } | null {
  let fd: number;
  try {
    fd = fs.openSync(p, DIR_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let keep = false;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, open '${p}'`), { code: 'ENOTDIR' });
    const real = realPathOfFd(fd, p, st);
    if (real === null || st.nlink === 0) return null;
    if (!snapshotAllowsDir(snap, real)) return { refused: real };
    keep = true;
    return { fd, real };
  } finally {
    if (!keep) fs.closeSync(fd);
  }
}

/** Is the folder open as `dir` still inside the allowed dirs (it may have been moved since it was opened)? */
export function stillAllowed(dir: VerifiedDir, snap: PolicySnapshot): boolean {
  const st = fs.fstatSync(dir.fd);
  if (st.nlink === 0) return false;
  const real = realPathOfFd(dir.fd, dir.real, st);
  return real !== null && snapshotAllowsDir(snap, real);
}
