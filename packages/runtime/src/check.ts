// The CPU part of handing out a file: open, size gate, read, completeness check, anonymize.
// Runs the same code in the main thread (inline route) and in the Piscina worker (pool route).
import fs from 'node:fs';
import * as dicom from '@rtfmri/dicom-wasm';
import { openForRead, type PolicySnapshot } from './verified.js';

export interface CheckRequest {
  path: string;
  minFileSize: number;
  /**
   * Apply the DICOM completeness check (and anonymize when asked). 'sniff': only when the file
   * has the Part-10 preamble + `DICM` (a file shorter than that is not whole yet).
   */
  dicom: boolean | 'sniff';
  anonymize: boolean;
  /**
   * The PHI policy asks for every DICOM to be anonymized: a file without `DICM` that parses as a
   * bare data set counts as DICOM too (and one that starts like a data set but does not parse yet
   * is waited for, never sent as it is).
   */
  phi?: boolean;
  /** What the opened file's real path must satisfy (checked on the open descriptor). */
  policy: PolicySnapshot;
  /** Size and mtime of the last incomplete read: an unchanged file is not read again. */
  skipSize?: number;
  skipMtimeMs?: number;
  /** The session's UID-map secret: the same original UID maps to the same new UID in every thread. */
  uidSecret?: string;
  /**
   * Pool route: memory for the delivered copy, lent by the main thread (recycled, already touched)
   * and transferred with the request (see lendSpare).
   */
  spare?: ArrayBuffer;
}

export type CheckResult =
  | { status: 'missing' }
  /** The open file's real path is outside the allowed dirs, or it (or the name asked for) has a disallowed type. */
  | { status: 'refused'; why: 'dir' | 'type'; real: string }
  | { status: 'notfile' }
  | { status: 'small'; size: number }
  | { status: 'incomplete'; size: number; mtimeMs: number }
  /** A whole DICOM file that the anonymizer cannot handle: never delivered when anonymization was asked. */
  | { status: 'unanonymizable'; message: string }
  /** A file-system error (errno code) the caller turns into a typed error. */
  | { status: 'error'; code: string; message: string }
  | { status: 'ok'; size: number; bytes: Uint8Array; dicom: boolean };

/** Is this DICOM, by content: Part-10 (`DICM` at 128), a bare data set that parses, or one that starts like a data set but does not parse (yet)? */
export function dicomKind(bytes: Uint8Array): 'part10' | 'bare' | 'broken' | null {
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) return 'part10';
  try {
    dicom.parseDicom(bytes);
    return 'bare';
  } catch (e) {
    const reason = String((e as { reason?: unknown })?.reason ?? '');
    // No plausible first element header (text, JSON, images, archives...): not DICOM.
    if (reason === 'too short or not DICOM' || reason.startsWith('not DICOM')) return null;
    return 'broken';
  }
}

// Files are read into one scratch buffer per thread (partial files are read again and again while
// a scanner writes them: no garbage per look), and only a whole file is copied out. Measured on the
// 457 KB mosaic: read into scratch 25 us + isComplete 9 us + copy out 12 us; reading into the
// wasm module's memory (allocInput) saves the scan's copy but its copy-out costs ~170 us.
let scratch = Buffer.allocUnsafeSlow(1 << 20);
function scratchOf(size: number): Buffer {
  if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, scratch.length * 2));
  return scratch;
}
const uidMaps = new Map<string, dicom.UidMap>();
function uidMapFor(secret: string | undefined): dicom.UidMap | undefined {
  if (secret === undefined) return undefined;
  let m = uidMaps.get(secret);
  if (!m) uidMaps.set(secret, (m = dicom.createUidMap({ secret })));
  return m;
}

// Room for the anonymized copy to grow (replacement UIDs may be longer than the originals; blanked
// attributes make it shorter). Kept small: every delivered byte is external memory, whose growth is
// what triggers V8's major collections (2-6 ms pauses) at high image rates. A copy that does not
// fit is allocated by anonymize() itself.
const ANON_SLACK = 4 * 1024;

function anonymizeBytes(bytes: Uint8Array, uidSecret: string | undefined): Uint8Array {
  const out = takeSpare(bytes.length + ANON_SLACK);
  const anon = dicom.anonymize(bytes, { uidMap: uidMapFor(uidSecret), output: out });
  // A view of the spare when it fitted; else anonymize allocated its own result.
  return anon.buffer === out.buffer ? new Uint8Array(out.buffer, 0, anon.byteLength) : owned(anon);
}

/** Anonymized bytes with the session's UID map (fresh memory; for files handed out outside the streams' hot path). */
export function anonymizeFor(bytes: Uint8Array, uidSecret: string): Uint8Array {
  return dicom.anonymize(bytes, { uidMap: uidMapFor(uidSecret) });
}

function errnoResult(err: unknown): CheckResult {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string') throw err;
  return { status: 'error', code, message: String((err as Error).message) };
}

export function checkFile(req: CheckRequest): CheckResult {
  // Opened once, following symlinks; the open descriptor's real path is what gets checked
  // (allowed dirs, and the type of both the name asked for and the file reached), and the bytes
  // come from that same descriptor: a folder swapped for a symlink meanwhile changes nothing.
  let fd: number;
  let st: fs.Stats;
  try {
    const o = openForRead(req.path, req.policy);
    if (o.status === 'missing') return o;
    if (o.status === 'refused') return o;
    if (o.status !== 'open') return { status: 'notfile' };
    fd = o.fd;
    st = o.st;
  } catch (err) {
    return errnoResult(err);
  }
  try {
    const size = st.size;
    if (size < req.minFileSize || size === 0) return { status: 'small', size };
    if (req.skipSize === size && req.skipMtimeMs === st.mtimeMs) return { status: 'incomplete', size, mtimeMs: st.mtimeMs };
    const buf = scratchOf(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    // Fewer bytes than fstat said: the file was truncated under us (rewritten), look again later.
    const bytes = buf.subarray(0, off);
    let isDicom = req.dicom === true;
    if (req.dicom === 'sniff') {
      if (off < 132) {
        // Too short to show `DICM`: a Part-10 file being written has only its (zero) preamble so
        // far; anything else is a small file of another kind.
        if (bytes.every((b) => b === 0)) return { status: 'incomplete', size, mtimeMs: st.mtimeMs };
      } else {
        isDicom = bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
      }
    }
    if (!isDicom && req.phi) {
      // By content, not by name: a bare data set (no preamble) is DICOM too.
      const kind = dicomKind(bytes);
      if (kind === 'broken') return { status: 'incomplete', size, mtimeMs: st.mtimeMs };
      isDicom = kind !== null;
    }
    if (!isDicom) return { status: 'ok', size: off, bytes: copyOut(bytes), dicom: false };
    if (!dicom.isComplete(bytes)) return { status: 'incomplete', size, mtimeMs: st.mtimeMs };
    if (req.anonymize) {
      try {
        return { status: 'ok', size: off, bytes: anonymizeBytes(bytes, req.uidSecret), dicom: true };
      } catch (err) {
        return { status: 'unanonymizable', message: String((err as Error)?.message ?? err) };
      }
    }
    return { status: 'ok', size: off, bytes: copyOut(bytes), dicom: true };
  } catch (err) {
    return errnoResult(err);
  } finally {
    fs.closeSync(fd);
  }
}

// A delivered file needs memory of its own (the caller keeps the dataset). Fresh memory costs
// page faults when first touched: 0.2-0.8 ms for 457 KB on this VM, more than everything else on
// the path. So the copy goes into a spare buffer allocated and touched beforehand, off the hot
// path, and the next spare is prepared right after (setImmediate).
let spare: Buffer | null = null;
let refillPending = false;
const SPARE_ROUND = 4 * 1024;

/**
 * Delivered buffers handed back once their bytes are gone (the runtime service, after sending).
 * Enough for a burst: 16 streams' volumes closed at the same instant are checked in one turn, and
 * with only 2 kept, 14 of them got fresh memory every burst: ~7 MB of new external memory per
 * burst, so V8 ran a mark-compact every second burst (3-14 ms pauses, steps up to 30 ms, inside a
 * burst) and its helper threads marked for ~1 ms of CPU per volume. Bounded by count and bytes.
 */
const recycled: Buffer[] = [];
let recycledBytes = 0;
const RECYCLE_MAX = 32;
const RECYCLE_MAX_BYTES = 32 * 1024 * 1024;

function refill(size: number): void {
  if (refillPending) return;
  refillPending = true;
  setImmediate(() => {
    refillPending = false;
    if (spare && spare.length >= size) return;
    const r = takeRecycled(size);
    if (r) {
      spare = r;
      return;
    }
    const b = Buffer.allocUnsafeSlow(Math.ceil(size / SPARE_ROUND) * SPARE_ROUND);
    b.fill(0);
    spare = b;
  });
}

/**
 * Gives back the memory of a delivered file that nobody holds any more (the caller guarantees
 * it: the runtime service does so for bytes it has sent and the socket has flushed). It becomes
 * a later spare: no fresh 0.5 MB of external memory per image, hence fewer major collections.
 * Only whole, non-shared ArrayBuffers of this thread are taken.
 */
export function recycleDelivered(bytes: Uint8Array): void {
  const ab = bytes.buffer;
  if (!(ab instanceof ArrayBuffer) || bytes.byteOffset !== 0 || ab.byteLength < 64 * 1024 || ab.byteLength > RECYCLE_MAX_BYTES / 4) return;
  // the same memory handed back twice would be lent to two files at once
  if (recycled.some((r) => r.buffer === ab)) return;
  while (recycled.length && (recycled.length >= RECYCLE_MAX || recycledBytes + ab.byteLength > RECYCLE_MAX_BYTES)) recycledBytes -= recycled.shift()!.length;
  recycled.push(Buffer.from(ab));
  recycledBytes += ab.byteLength;
}

/** The smallest recycled buffer of at least `n` bytes, taken out of the list (undefined: none). */
function takeRecycled(n: number): Buffer | undefined {
  let best = -1;
  for (let i = 0; i < recycled.length; i++) if (recycled[i]!.length >= n && (best < 0 || recycled[i]!.length < recycled[best]!.length)) best = i;
  if (best < 0) return undefined;
  const b = recycled.splice(best, 1)[0]!;
  recycledBytes -= b.length;
  return b;
}

/**
 * Main thread, pool route: recycled memory for the copy a look of a `size`-byte file delivers
 * (undefined: none fits), to travel to the pool's worker with the request. The worker cannot
 * prepare spares of its own: piscina's worker blocks in Atomics.wait between tasks, so its
 * setImmediate refill does not run, and its deliveries leave it (transferred), so nothing comes
 * back to recycle: without lent memory every delivery there is fresh memory, whose page faults on
 * first touch cost 0.2-0.8 ms per 457 KB volume, several times the look itself.
 */
export function spareForPool(size: number, anonymize: boolean): ArrayBuffer | undefined {
  const b = takeRecycled(anonymize ? size + ANON_SLACK : size);
  return b?.buffer as ArrayBuffer | undefined;
}

/** Pool worker: memory lent with a request (spareForPool) becomes this thread's spare, or is kept for later looks. */
export function lendSpare(ab: ArrayBuffer): void {
  const b = Buffer.from(ab);
  if (spare === null) spare = b;
  else if (spare.length < b.length) {
    recycleDelivered(spare);
    spare = b;
  } else recycleDelivered(b);
}

/** How many delivered buffers wait to be reused, and their bytes (tests, diagnostics). */
export function recycledStats(): { count: number; bytes: number } {
  return { count: recycled.length, bytes: recycledBytes };
}

/** A buffer of at least `n` bytes with its own ArrayBuffer: the prepared spare when it fits. */
function takeSpare(n: number): Buffer {
  let b = spare;
  spare = null;
  if (b && b.length < n) {
    recycleDelivered(b);
    b = null;
  }
  // Several in one turn (a burst): the prepared spare serves the first, recycled memory the others.
  b ??= takeRecycled(n) ?? Buffer.allocUnsafeSlow(n);
  refill(n);
  return b;
}

/** A copy that owns its whole ArrayBuffer (transferable from a worker; the scratch is reused). */
function copyOut(bytes: Uint8Array): Uint8Array {
  const b = takeSpare(bytes.length);
  b.set(bytes);
  return new Uint8Array(b.buffer, 0, bytes.length);
}

function owned(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer)) return bytes;
  return copyOut(bytes);
}
