import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as dicom from '@rtfmri/dicom-wasm';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { NotFoundError, StateError, TimeoutError, ValidationError } from './errors.js';
import { PathPolicy } from './paths.js';
export { DATA_INTERFACE_METHODS, type DataInterfaceMethod } from '@rtfmri/relay/protocol';
import { glob, splitGlob, writeFileAtomic } from '@rtfmri/files';
import { WatchHub, type WatchRoute } from './watcher.js';
import { FileWaiter, type Validated, type FileWaitDeps } from './actors.js';
import { checkFile, type CheckRequest, type CheckResult } from './check.js';
import { acquirePool } from './pool.js';

/** Where a stream's CPU work (read, completeness check, anonymize) runs. */
export type WorkRoute = 'auto' | 'inline' | 'pool';

export interface DataInterfaceOptions {
  /** Must be false (or absent) here: the remote stub lives in @rtfmri/sdk. */
  dataRemote?: boolean;
  allowedDirs?: string[];
  allowedFileTypes?: string[];
  /** Seconds the scanner's clock is ahead of this computer's clock. */
  scannerClockSkew?: number;
  /** File events: 'native' (one fs.watch per folder), 'polling' (stat of the expected names, for mounted shares) or
   *  'auto' (default: polling where the folder is on a network or FUSE file system). */
  watchRoute?: WatchRoute;
  /**
   * 'auto' (default): in the calling thread while the recent inline work stays under a small budget
   * (a single stream's latency is best without the thread hop), in the Piscina pool beyond it (many
   * streams at once never block the event loop). 'inline' / 'pool' force one route.
   */
  work?: WorkRoute;
  /** Safety-net poll of a waited-for file, ms (file events do the real work). */
  pollIntervalMs?: number;
  /** Piscina threads (default: cores - 1, 1..4). */
  poolThreads?: number;
}


const TR_PLACEHOLDER = /\{([^{}]*)\}/g;

/** Compiles `scan_{TR:03d}.dcm` into a name function; anything but {TR}/{TR:0Nd}/{TR:d} is refused. */
export function compileFilePattern(filePattern: string): (index: number) => string {
  if (typeof filePattern !== 'string' || filePattern.length === 0) {
    throw new ValidationError('filePattern must be a non-empty string');
  }
  if (filePattern.includes('/') || filePattern.includes('\\') || filePattern.includes('\0')) {
    throw new ValidationError(`filePattern must be a file name (no folders): ${filePattern}`);
  }
  const parts: Array<string | { width: number; zero: boolean }> = [];
  let last = 0;
  let found = false;
  for (const m of filePattern.matchAll(TR_PLACEHOLDER)) {
    const spec = /^TR(?::(0?)(\d*)d)?$/.exec(m[1]);
    if (!spec) {
      throw new ValidationError(`filePattern placeholder {${m[1]}} not supported: use {TR}, {TR:03d}, {TR:06d} (${filePattern})`);
    }
    parts.push(filePattern.slice(last, m.index), { zero: spec[1] === '0', width: spec[2] ? Number(spec[2]) : 0 });
    last = m.index! + m[0].length;
    found = true;
  }
  parts.push(filePattern.slice(last));
  if (!found) throw new ValidationError(`initScannerStream filePattern must have a {TR} pattern: ${filePattern}`);
  if (parts.some((p) => typeof p === 'string' && (p.includes('{') || p.includes('}')))) {
    throw new ValidationError(`filePattern has unbalanced braces: ${filePattern}`);
  }
  return (index: number) =>
    parts.map((p) => (typeof p === 'string' ? p : String(index).padStart(p.width, p.zero ? '0' : ' '))).join('');
}

function checkTimeout(timeout: unknown, what: string): number {
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
    throw new ValidationError(`${what}: timeout parameter must be > 0 secs (got ${String(timeout)})`);
  }
  return timeout;
}

function checkMinSize(minFileSize: unknown): number {
  const n = minFileSize == null ? 0 : minFileSize;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ValidationError(`minFileSize must be a number >= 0 (got ${String(minFileSize)})`);
  }
  return n;
}

function checkDemoStep(demoStep: unknown): number {
  const n = demoStep == null ? 0 : demoStep;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ValidationError(`demoStep must be a number >= 0 (got ${String(demoStep)})`);
  }
  return n;
}

interface Stream {
  id: number;
  imgDir: string;
  nameOf: (i: number) => string;
  nextIndex: number;
  waiter: FileWaiter<DicomDataset>;
  release: () => void;
}

interface Watch {
  dir: string;
  filePattern: string;
  waiter: FileWaiter<Uint8Array>;
  release: () => void;
}

/** Inline work allowed per window before the pool takes over (auto route). */
const INLINE_BUDGET_MS = 4;
const INLINE_WINDOW_MS = 20;
/** Files above this size are always checked in the pool (auto route). */
const INLINE_MAX_BYTES = 8 * 1024 * 1024;

/**
 * The control-room DataInterface (`dataRemote: false`): rt-cloud's API, names and argument order,
 * with many streams and watches at once and a path policy that `..` and symlinks cannot bypass.
 */
export class DataInterface {
  readonly policy: PathPolicy;
  readonly scannerClockSkew: number;
  private readonly hub: WatchHub;
  private readonly work: WorkRoute;
  private readonly pollIntervalMs: number;
  private readonly poolThreads?: number;
  private pool: ReturnType<typeof acquirePool> | null = null;
  private poolUnavailable = false;
  private readonly streams = new Map<number, Stream>();
  private readonly watches = new Map<string, Watch>();
  private lastWatch: Watch | null = null;
  private lastStreamId = 0;
  private closed = false;
  private readyP: Promise<void> | null = null;
  /** Session secret of the UID map (replacement UIDs are consistent across streams and threads). */
  private readonly uidSecret = randomBytes(16).toString('hex');
  private inlineWindowStart = 0;
  private inlineSpent = 0;
  /** How the last validations were routed (diagnostics, benchmark). */
  readonly routed = { inline: 0, pool: 0 };

  constructor(opts: DataInterfaceOptions = {}) {
    if (opts.dataRemote === true) {
      throw new ValidationError('dataRemote: true is the SDK stub (@rtfmri/sdk); @rtfmri/runtime is the local DataInterface');
    }
    this.policy = new PathPolicy(opts.allowedDirs ?? [], opts.allowedFileTypes ?? []);
    const skew = opts.scannerClockSkew ?? 0;
    if (typeof skew !== 'number' || !Number.isFinite(skew)) throw new ValidationError('scannerClockSkew must be a number');
    this.scannerClockSkew = skew;
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    this.hub = new WatchHub({ route: opts.watchRoute ?? 'auto', pollIntervalMs: Math.min(100, this.pollIntervalMs) });
    this.work = opts.work ?? 'auto';
    this.poolThreads = opts.poolThreads;
  }

  private ensureOpen(): void {
    if (this.closed) throw new StateError('DataInterface is closed');
  }

  private ready(): Promise<void> {
    return (this.readyP ??= Promise.resolve(dicom.ready()).then(() => undefined));
  }

  // ---------------------------------------------------------------- streams

  async initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize = true, demoStep = 0): Promise<number> {
    this.ensureOpen();
    const dir = this.policy.checkDir(imgDir);
    const nameOf = compileFilePattern(filePattern);
    this.policy.checkFileType(nameOf(0));
    const min = checkMinSize(minFileSize);
    const step = checkDemoStep(demoStep);
    // null as "not given": a value that crossed a wire may arrive as null instead of undefined
    const anon = anonymize ?? true;
    if (typeof anon !== 'boolean') throw new ValidationError('anonymize must be a boolean');
    await this.ready();
    await this.warmPool();
    this.ensureOpen(); // closed while we awaited
    const release = this.hub.acquire(dir);
    const waiter = new FileWaiter<DicomDataset>(
      { dir, minFileSize: min, dicom: true, anonymize: anon, demoStep: step },
      this.deps((bytes) => dicom.parseDicom(bytes)),
      (name, fn) => this.hub.on(dir, name, fn),
    );
    const id = ++this.lastStreamId;
    this.streams.set(id, { id, imgDir, nameOf, nextIndex: 0, waiter, release });
    return id;
  }

  async getImageData(streamId: number, imageIndex?: number | null, timeout: number | null = 5): Promise<DicomDataset> {
    this.ensureOpen();
    timeout ??= 5;
    const s = this.streams.get(streamId);
    if (!s) {
      throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    }
    if (imageIndex != null && (!Number.isInteger(imageIndex) || imageIndex < 0)) {
      throw new ValidationError(`imageIndex must be an integer >= 0 (got ${String(imageIndex)})`);
    }
    checkTimeout(timeout, 'getImageData');
    let index = -1;
    const ds = await s.waiter.request(
      () => s.nameOf((index = imageIndex ?? s.nextIndex)),
      timeout,
      (name) => new NotFoundError(`getImageData: Dicom file ${path.join(s.imgDir, name)} not found or corrupted`, { details: { streamId, imageIndex: index } }),
    );
    s.nextIndex = index + 1;
    return ds;
  }

  /** Ends a stream: its id then gives "StreamID mismatch"; a pending getImageData is rejected. */
  async closeStream(streamId: number): Promise<void> {
    const s = this.streams.get(streamId);
    if (!s) throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    this.streams.delete(streamId);
    s.waiter.close();
    s.release();
  }

  // ---------------------------------------------------------------- watches

  async initWatch(dir: string, filePattern: string, minFileSize: number, demoStep = 0): Promise<void> {
    this.ensureOpen();
    const real = this.policy.checkDir(dir);
    if (typeof filePattern !== 'string' || filePattern.length === 0 || filePattern.includes('/')) {
      throw new ValidationError('filePattern must be a file name pattern such as *.dcm');
    }
    this.policy.checkPatternType(filePattern);
    const min = checkMinSize(minFileSize);
    const step = checkDemoStep(demoStep);
    await this.ready();
    this.ensureOpen(); // closed while we awaited
    const old = this.watches.get(real);
    if (old) { old.waiter.close(); old.release(); }
    const release = this.hub.acquire(real);
    const waiter = new FileWaiter<Uint8Array>(
      { dir: real, minFileSize: min, dicom: 'auto', anonymize: false, demoStep: step },
      this.deps((bytes) => bytes),
      (name, fn) => this.hub.on(real, name, fn),
    );
    const w: Watch = { dir: real, filePattern, waiter, release };
    this.watches.set(real, w);
    this.lastWatch = w;
  }

  async watchFile(filename: string, timeout: number | null = 5): Promise<Uint8Array> {
    this.ensureOpen();
    timeout ??= 5;
    if (typeof filename !== 'string' || filename.length === 0 || filename.includes('\0')) {
      throw new ValidationError('filename must be a non-empty string without NUL bytes');
    }
    if (this.watches.size === 0 || !this.lastWatch) {
      throw new StateError('DataInterface: watchFile() called without an initWatch()');
    }
    let w: Watch;
    const name = path.basename(filename);
    if (filename.includes('/')) {
      const dir = this.policy.checkDir(path.dirname(filename));
      const found = this.watches.get(dir);
      if (!found) throw new StateError(`DataInterface: watchFile: no initWatch() for folder ${path.dirname(filename)}`);
      w = found;
    } else {
      w = this.lastWatch;
    }
    this.policy.checkFileType(name);
    checkTimeout(timeout, 'watchFile');
    return w.waiter.request(name, timeout, (n) => new TimeoutError(`WatchFile: Timeout ${timeout}s: ${n}`));
  }

  // ---------------------------------------------------------------- validation work

  private deps<T>(finish: (bytes: Uint8Array) => T): FileWaitDeps<T> {
    // Synchronous on the inline route (no promise hop on an image's path), a Promise on the pool route.
    const settle = (r: CheckResult, req: CheckRequest): Validated<T> | Promise<Validated<T>> => {
      switch (r.status) {
        case 'ok':
          try {
            return { status: 'ok', value: finish(r.bytes) };
          } catch (err) {
            // Whole by structure but unparseable (corrupt or still changing): keep waiting.
            if ((err as Error)?.name === 'DicomParseError') return { status: 'incomplete' };
            throw err;
          }
        case 'small': return { status: 'small' };
        case 'incomplete': return { status: 'incomplete', size: r.size, mtimeMs: r.mtimeMs };
        case 'symlink': {
          // The name is a link: follow it only to a regular file inside the allowed dirs.
          let real: string;
          try { real = fs.realpathSync.native(req.path); } catch { return { status: 'missing' }; }
          if (!this.policy.isRealPathAllowed(real)) {
            throw new ValidationError(`Path ${req.path} not within list of allowed directories (symlink to ${real})`);
          }
          const again = { ...req, path: real };
          const r2 = this.runCheck(again);
          const done = (x: CheckResult) => (x.status === 'symlink' ? { status: 'missing' as const } : settle(x, again));
          return r2 instanceof Promise ? r2.then(done) : done(r2);
        }
        default: return { status: 'missing' };
      }
    };
    const validate = (request: CheckRequest): Validated<T> | Promise<Validated<T>> => {
      const req = request.anonymize ? { ...request, uidSecret: this.uidSecret } : request;
      const r = this.runCheck(req);
      return r instanceof Promise ? r.then((x) => settle(x, req)) : settle(r, req);
    };
    return { validate, pollIntervalMs: this.pollIntervalMs };
  }

  /** Starts the pool before the first image needs it (routes 'pool' and 'auto'). */
  private async warmPool(): Promise<void> {
    if (this.work === 'inline' || this.poolUnavailable) return;
    try {
      this.pool ??= acquirePool(this.poolThreads);
      await this.pool.warm();
    } catch (err) {
      // 'auto' still works without the pool (e.g. dist/worker.js not built): everything inline.
      if (this.work === 'pool') throw err;
      this.poolUnavailable = true;
      const pool = this.pool;
      this.pool = null;
      await pool?.release().catch(() => undefined);
    }
  }

  private runCheck(req: CheckRequest): CheckResult | Promise<CheckResult> {
    if (this.routeInline(req)) {
      const t0 = performance.now();
      try {
        return checkFile(req);
      } finally {
        this.inlineSpent += performance.now() - t0;
      }
    }
    this.pool ??= acquirePool(this.poolThreads);
    this.routed.pool++;
    return this.pool.run(req);
  }

  private routeInline(req: CheckRequest): boolean {
    if (this.work === 'inline') { this.routed.inline++; return true; }
    if (this.work === 'pool') return false;
    if (!this.poolUnavailable && req.skipSize === undefined) {
      // A big file (multi-frame, enhanced MR) would hold the event loop for milliseconds: pool.
      // One stat (~2 us) on a first look; later looks know the size from the previous one.
      const st = fs.statSync(req.path, { throwIfNoEntry: false });
      if (st && st.size > INLINE_MAX_BYTES) return false;
    } else if (!this.poolUnavailable && (req.skipSize ?? 0) > INLINE_MAX_BYTES) {
      return false;
    }
    const now = performance.now();
    if (now - this.inlineWindowStart > INLINE_WINDOW_MS) {
      this.inlineWindowStart = now;
      this.inlineSpent = 0;
    }
    if (this.poolUnavailable || (this.inlineSpent < INLINE_BUDGET_MS && (this.pool === null || this.pool.queued() === 0))) {
      this.routed.inline++;
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- files

  async getFile(filename: string): Promise<Uint8Array> {
    return this.readFileInto(filename);
  }

  /**
   * @internal getFile reading into memory from `alloc(size)` (the runtime service lends reused
   * reply buffers: a fresh 0.5 MB buffer per call costs page faults and GC on the hot path).
   */
  async readFileInto(filename: string, alloc?: (size: number) => Uint8Array): Promise<Uint8Array> {
    this.ensureOpen();
    // Folder first: a directory is reported as one (the helpers skip those), not as a bad file type.
    const real = this.policy.checkDir(filename);
    if (isDirectory(real)) throw new ValidationError(`${filename} is a directory`, { details: { reason: 'EISDIR', path: filename } });
    return readWhole(this.policy.checkFile(filename), filename, alloc);
  }

  async getNewestFile(filepattern: string): Promise<Uint8Array> {
    this.ensureOpen();
    const { base, rest } = this.splitChecked(filepattern);
    this.policy.checkPatternType(rest[rest.length - 1]);
    const files = glob(filepattern, { want: 'files', allowReal: (r) => this.policy.isRealPathAllowed(r) })
      .filter((e) => this.policy.isTypeAllowed(e.path));
    if (files.length === 0) throw new NotFoundError(`No file found matching pattern ${filepattern}`, { details: { base } });
    let newest = files[0];
    for (const f of files) if (f.mtimeMs > newest.mtimeMs) newest = f;
    return readWhole(this.policy.checkFile(newest.path), newest.path);
  }

  async putFile(filename: string, data: string | Uint8Array, compress = false): Promise<void> {
    this.ensureOpen();
    void compress; // compression is the link's business: data arrives here already inflated
    const real = this.policy.checkFile(filename);
    let bytes: Uint8Array;
    const d: unknown = data;
    if (typeof d === 'string') bytes = Buffer.from(d, 'utf8');
    else if (d instanceof Uint8Array) bytes = d;
    else if (d instanceof ArrayBuffer) bytes = new Uint8Array(d);
    else throw new ValidationError('putFile: data must be a string or bytes');
    const dir = path.dirname(real);
    try {
      await fs.promises.mkdir(dir, { recursive: true });
    } catch (err) {
      throw mapFsError(err, filename);
    }
    try {
      await writeFileAtomic(real, bytes);
    } catch (err) {
      throw mapFsError(err, filename);
    }
  }

  async listFiles(filepattern: string): Promise<string[]> {
    this.ensureOpen();
    const { rest } = this.splitChecked(filepattern);
    this.policy.checkPatternType(rest[rest.length - 1]);
    return glob(filepattern, { want: 'files', allowReal: (r) => this.policy.isRealPathAllowed(r) })
      .filter((e) => this.policy.isTypeAllowed(e.path))
      .map((e) => e.path);
  }

  async listDirs(dirpattern: string): Promise<string[]> {
    this.ensureOpen();
    this.splitChecked(dirpattern);
    return glob(dirpattern, { want: 'dirs', allowReal: (r) => this.policy.isRealPathAllowed(r) }).map((e) => e.path);
  }

  private splitChecked(pattern: string): { base: string; rest: string[] } {
    this.policy.canonicalise(pattern); // absolute, no NUL
    const split = splitGlob(pattern);
    this.policy.checkDir(split.base);
    return split;
  }

  async getAllowedFileTypes(): Promise<string[]> {
    return [...this.policy.allowedFileTypes];
  }

  /** rt-cloud's formula: seconds the scanner's clock is ahead of the caller's. */
  async getClockSkew(callerClockTime: number, roundTripTime: number): Promise<number> {
    if (typeof callerClockTime !== 'number' || typeof roundTripTime !== 'number') {
      throw new ValidationError('getClockSkew: callerClockTime and roundTripTime must be numbers (seconds)');
    }
    const callerClockAdjToNow = callerClockTime + roundTripTime / 2;
    return Date.now() / 1000 - callerClockAdjToNow + this.scannerClockSkew;
  }

  async ping(): Promise<number> {
    return Date.now() / 1000;
  }

  /** Closes every stream and watch (their pending calls are rejected) and the folder watchers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) { s.waiter.close(); s.release(); }
    for (const w of this.watches.values()) { w.waiter.close(); w.release(); }
    this.streams.clear();
    this.watches.clear();
    this.lastWatch = null;
    this.hub.closeAll();
    const pool = this.pool;
    this.pool = null;
    await pool?.release();
  }

  /** Diagnostics: the state of a stream's actor (e.g. 'waitingForComplete'). */
  streamState(streamId: number): string | undefined {
    return this.streams.get(streamId)?.waiter.state;
  }
}

function isDirectory(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}

function readWhole(real: string, shown: string, alloc?: (size: number) => Uint8Array): Uint8Array {
  let st: fs.Stats;
  try { st = fs.statSync(real); } catch (err) { throw mapFsError(err, shown); }
  if (st.isDirectory()) throw new ValidationError(`${shown} is a directory`, { details: { reason: 'EISDIR', path: shown } });
  if (!st.isFile()) throw new ValidationError(`${shown} is not a regular file`, { details: { path: shown } });
  try {
    if (!alloc) return fs.readFileSync(real);
    const fd = fs.openSync(real, 'r');
    try {
      // The size of the open file (it may have changed since the stat); bytes appended while we
      // read are not included, as with any snapshot of a file being written.
      const size = fs.fstatSync(fd).size;
      const out = alloc(size);
      let off = 0;
      while (off < size) {
        const n = fs.readSync(fd, out, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      return off === size ? out : out.subarray(0, off);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw mapFsError(err, shown);
  }
}

function mapFsError(err: unknown, shown: string): Error {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new NotFoundError(`File not found ${shown}`, { details: { path: shown } });
  if (code === 'EISDIR') return new ValidationError(`${shown} is a directory`, { details: { reason: 'EISDIR', path: shown } });
  if (code === 'ENOTDIR') return new ValidationError(`${shown}: a parent is not a directory`, { details: { reason: 'ENOTDIR', path: shown } });
  if (code === 'ENAMETOOLONG') return new ValidationError(`${shown.slice(0, 200)}: path too long`, { details: { reason: code } });
  if (code === 'EACCES' || code === 'EPERM') return new ValidationError(`${shown}: permission denied`, { details: { reason: code, path: shown } });
  return err instanceof Error ? err : new Error(String(err));
}
