import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as dicom from '@rtfmri/dicom-wasm';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { NotFoundError, RtfmriError, StateError, TimeoutError, ValidationError } from './errors.js';
import { MAX_NAME_BYTES, PathPolicy } from './paths.js';
import { DATA_INTERFACE_METHODS, type DataInterfaceMethod } from '@rtfmri/relay/protocol';
export { DATA_INTERFACE_METHODS, type DataInterfaceMethod };
import { glob, isWithin, splitGlob, tempNameFor } from '@rtfmri/files';
import { WatchHub, type WatchRoute } from './watcher.js';
import { FileWaiter, type Validated, type FileWaitDeps, type FileWaitOptions, type WaitCheck } from './actors.js';
import { anonymizeFor, checkFile, dicomKind, type CheckRequest, type CheckResult } from './check.js';
import { acquirePool } from './pool.js';
import {
  HAS_PROC_FD, inFd, openDirVerified, openForRead, readAllFd, stillAllowed, type PolicySnapshot, type VerifiedDir,
} from './verified.js';

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
  /**
   * The operator's PHI policy for what leaves through the *remote* methods (remoteFacade: every relay,
   * LAN or WebRTC session). 'anonymize' (default): every DICOM file that leaves (getFile, getNewestFile,
   * watchFile, scanner streams), recognised by content, is anonymized; a client's `anonymize=false`
   * is ignored (the stream is anonymized, and a note is logged); a DICOM file that cannot be
   * anonymized is refused. 'allow-raw': a client may receive raw DICOM (streams opened with
   * anonymize=false; getFile/getNewestFile/watchFile, which have no flag, send files as they are),
   * and every raw DICOM file sent is logged. In-process calls are not affected (README, "What leaves
   * the building").
   */
  phi?: PhiPolicy;
  /**
   * The site's anonymization secret: replacement UIDs and date shifts are derived from it, so the
   * same input maps to the same output in every process and after a restart (a run split by a
   * runtime restart stays one series). Default: random per DataInterface. `rtfmri serve` keeps one
   * in a mode-600 file (loadUidSecret).
   */
  uidSecret?: string;
  /** Where the PHI lines go (raw DICOM sent; a client's request for raw refused). Default: raw-sent lines to stderr. */
  log?: (line: string) => void;
}

export type PhiPolicy = 'anonymize' | 'allow-raw';
export const PHI_POLICIES: readonly PhiPolicy[] = ['anonymize', 'allow-raw'];

/** Largest N of `{TR:0Nd}`: a wider field is a ValidationError (a huge width would allocate the padding). */
export const MAX_TR_WIDTH = 32;
/** Longest wait (seconds) a timeout or demoStep may ask for: larger timeouts (Infinity too) are clamped to it. */
export const MAX_TIMEOUT_SEC = 24 * 60 * 60;


const TR_PLACEHOLDER = /\{([^{}]*)\}/g;

/** Compiles `scan_{TR:03d}.dcm` into a name function; anything but {TR}/{TR:0Nd}/{TR:d} is refused. */
export function compileFilePattern(filePattern: string): (index: number) => string {
  if (typeof filePattern !== 'string' || filePattern.length === 0) {
    throw new ValidationError('filePattern must be a non-empty string');
  }
  if (filePattern.length > MAX_NAME_BYTES || Buffer.byteLength(filePattern) > MAX_NAME_BYTES) {
    throw new ValidationError(`filePattern too long (at most ${MAX_NAME_BYTES} bytes, a file name)`, { details: { reason: 'ENAMETOOLONG' } });
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
    const width = spec[2] ? Number(spec[2]) : 0;
    if (!(width <= MAX_TR_WIDTH)) {
      throw new ValidationError(`filePattern {${m[1]}}: width ${spec[2].length > 12 ? `${spec[2].slice(0, 12)}...` : spec[2]} is more than ${MAX_TR_WIDTH}`, { details: { reason: 'WIDTH', max: MAX_TR_WIDTH } });
    }
    parts.push(filePattern.slice(last, m.index), { zero: spec[1] === '0', width });
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

/** A timeout in seconds: > 0, clamped to MAX_TIMEOUT_SEC (a timer of 2^31 ms or more would fire at once). */
function checkTimeout(timeout: unknown, what: string): number {
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0) {
    throw new ValidationError(`${what}: timeout parameter must be > 0 secs (got ${String(timeout)})`);
  }
  return Math.min(timeout, MAX_TIMEOUT_SEC);
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
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > MAX_TIMEOUT_SEC) {
    throw new ValidationError(`demoStep must be a number of seconds, 0..${MAX_TIMEOUT_SEC} (got ${String(demoStep)})`);
  }
  return n;
}

interface Stream {
  id: number;
  imgDir: string;
  nameOf: (i: number) => string;
  nextIndex: number;
  /** Opened with anonymize=true (false: raw, only in-process or under 'allow-raw'). */
  anonymize: boolean;
  waiter: FileWaiter<DicomDataset>;
  release: () => void;
}

interface Watch {
  dir: string;
  filePattern: string;
  waiter: FileWaiter<Uint8Array>;
  release: () => void;
}

/** The remote methods that hand out file bytes: each applies the PHI policy (remoteMethods). */
const PHI_ROUTES = { getFile: 1, getNewestFile: 1, watchFile: 1, initScannerStream: 1, getImageData: 1 } as const;

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
  /** The operator's PHI policy for the remote methods (see DataInterfaceOptions.phi). */
  readonly phi: PhiPolicy;
  readonly scannerClockSkew: number;
  private readonly phiLog: ((line: string) => void) | undefined;
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
  private readonly uidSecret: string;
  private inlineWindowStart = 0;
  private inlineSpent = 0;
  /** How the last validations were routed (diagnostics, benchmark). */
  readonly routed = { inline: 0, pool: 0 };

  constructor(opts: DataInterfaceOptions = {}) {
    if (opts.uidSecret !== undefined && (typeof opts.uidSecret !== 'string' || opts.uidSecret.length < 16)) {
      throw new ValidationError('uidSecret must be a string of at least 16 characters');
    }
    this.uidSecret = opts.uidSecret ?? randomBytes(16).toString('hex');
    if (opts.dataRemote === true) {
      throw new ValidationError('dataRemote: true is the SDK stub (@rtfmri/sdk); @rtfmri/runtime is the local DataInterface');
    }
    this.policy = new PathPolicy(opts.allowedDirs ?? [], opts.allowedFileTypes ?? []);
    const phi = opts.phi ?? 'anonymize';
    if (!PHI_POLICIES.includes(phi)) throw new ValidationError(`phi must be one of ${PHI_POLICIES.join(', ')} (got ${String(phi)})`);
    this.phi = phi;
    this.phiLog = opts.log;
    const skew = opts.scannerClockSkew ?? 0;
    if (typeof skew !== 'number' || !Number.isFinite(skew)) throw new ValidationError('scannerClockSkew must be a number');
    this.scannerClockSkew = skew;
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    this.hub = new WatchHub({
      route: opts.watchRoute ?? 'auto',
      pollIntervalMs: Math.min(100, this.pollIntervalMs),
      // A stream's or watch's folder is checked again whenever its watcher is (re)started: still
      // the same real path (no symlink swapped in along the way) and still allowed.
      verifyDir: (dir) => {
        try {
          return fs.realpathSync.native(dir) === dir && this.policy.isRealPathAllowed(dir);
        } catch {
          return false;
        }
      },
    });
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
    this.streams.set(id, { id, imgDir, nameOf, nextIndex: 0, anonymize: anon, waiter, release });
    return id;
  }

  async getImageData(streamId: number, imageIndex?: number | null, timeout: number | null = 5): Promise<DicomDataset> {
    return (await this.imageData(streamId, imageIndex, timeout, undefined)).ds;
  }

  private async imageData(streamId: number, imageIndex: number | null | undefined, timeout: number | null, options: FileWaitOptions | undefined): Promise<{ ds: DicomDataset; file: string }> {
    this.ensureOpen();
    timeout ??= 5;
    const s = this.streams.get(streamId);
    if (!s) {
      throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    }
    if (imageIndex != null && (!Number.isSafeInteger(imageIndex) || imageIndex < 0)) {
      throw new ValidationError(`imageIndex must be an integer >= 0 (got ${String(imageIndex)})`);
    }
    const secs = checkTimeout(timeout, 'getImageData');
    let index = -1;
    let file = '';
    const ds = await s.waiter.request(
      () => {
        const name = s.nameOf((index = imageIndex ?? s.nextIndex));
        file = path.join(s.imgDir, name);
        return name;
      },
      secs,
      (name) => new NotFoundError(`getImageData: Dicom file ${path.join(s.imgDir, name)} not found or corrupted`, { details: { streamId, imageIndex: index } }),
      options,
    );
    s.nextIndex = index + 1;
    return { ds, file };
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
    if (filePattern.length > MAX_NAME_BYTES) throw new ValidationError(`filePattern too long (at most ${MAX_NAME_BYTES} bytes)`);
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
    return (await this.watched(filename, timeout, undefined)).bytes;
  }

  private async watched(filename: string, timeout: number | null, options: FileWaitOptions | undefined): Promise<{ bytes: Uint8Array; file: string }> {
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
    const secs = checkTimeout(timeout, 'watchFile');
    const bytes = await w.waiter.request(name, secs, (n) => new TimeoutError(`WatchFile: Timeout ${secs}s: ${n}`), options);
    return { bytes, file: path.join(w.dir, name) };
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
        case 'refused': throw this.refusal(req.path, r.why, r.real);
        case 'unanonymizable':
          throw new ValidationError(`${req.path} is DICOM that cannot be anonymized (${r.message.slice(0, 200)}): it is not sent`, { details: { reason: 'PHI', path: req.path } });
        case 'error': throw mapFsError(Object.assign(new Error(r.message), { code: r.code }), req.path);
        default: return { status: 'missing' };
      }
    };
    const validate = (look: WaitCheck): Validated<T> | Promise<Validated<T>> => {
      const request: CheckRequest = { ...look, policy: this.policy.snapshot() };
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
   * `remote`: the PHI policy applies to what is returned.
   */
  async readFileInto(filename: string, alloc?: (size: number) => Uint8Array, remote = false): Promise<Uint8Array> {
    this.ensureOpen();
    // A first check on the name (refuses early, with the usual messages); the one that decides is
    // made on the open descriptor.
    this.policy.checkDir(filename);
    // `..` is resolved by name (DESIGN "Semantics"), as the check above did, before the open.
    const bytes = this.readVerified(path.resolve(filename), filename, alloc);
    return remote ? this.phiOut(bytes, 'getFile', filename) : bytes;
  }

  async getNewestFile(filepattern: string): Promise<Uint8Array> {
    return this.newestFile(filepattern, false);
  }

  private async newestFile(filepattern: string, remote: boolean): Promise<Uint8Array> {
    this.ensureOpen();
    const { base, rest } = this.splitChecked(filepattern);
    this.policy.checkPatternType(rest[rest.length - 1]);
    const files = glob(filepattern, { want: 'files', allowReal: (r) => this.policy.isRealPathAllowed(r) })
      .filter((e) => this.policy.isTypeAllowed(e.path));
    if (files.length === 0) throw new NotFoundError(`No file found matching pattern ${filepattern}`, { details: { base } });
    let newest = files[0];
    for (const f of files) if (f.mtimeMs > newest.mtimeMs) newest = f;
    const bytes = this.readVerified(newest.path, newest.path);
    return remote ? this.phiOut(bytes, 'getNewestFile', newest.path) : bytes;
  }

  /**
   * Opens once, checks the open descriptor (its real path inside the allowed dirs; a folder or a
   * non-regular file refused; the type of the name and of the file reached), reads from it.
   */
  private readVerified(p: string, shown: string, alloc?: (size: number) => Uint8Array): Uint8Array {
    let o: ReturnType<typeof openForRead>;
    try {
      o = openForRead(p, this.policy.snapshot());
    } catch (err) {
      throw mapFsError(err, shown);
    }
    switch (o.status) {
      case 'missing': throw new NotFoundError(`File not found ${shown}`, { details: { path: shown } });
      case 'refused': throw this.refusal(shown, o.why, o.real);
      case 'directory': throw new ValidationError(`${shown} is a directory`, { details: { reason: 'EISDIR', path: shown } });
      case 'notfile': throw new ValidationError(`${shown} is not a regular file`, { details: { path: shown } });
    }
    try {
      return readAllFd(o.fd, o.st.size, alloc);
    } catch (err) {
      throw mapFsError(err, shown);
    } finally {
      fs.closeSync(o.fd);
    }
  }

  /** The ValidationError for a file whose open descriptor failed the policy. */
  private refusal(shown: string, why: 'dir' | 'type', real: string): ValidationError {
    if (why === 'dir') {
      return new ValidationError(`Path ${shown} not within list of allowed directories (it resolves to ${real})`, { details: { path: shown } });
    }
    try {
      this.policy.checkFileType(shown);
      this.policy.checkFileType(real);
    } catch (err) {
      if (err instanceof ValidationError) {
        if (real !== shown) err.message += ` (${shown} resolves to ${real})`;
        return err;
      }
    }
    return new ValidationError(`File type of ${shown} not in list of allowed file types`, { details: { path: shown } });
  }

  /**
   * The PHI policy on bytes about to leave through a remote method: DICOM (by content) leaves
   * anonymized under 'anonymize' (or not at all, when it cannot be), as it is under 'allow-raw'
   * (logged); anything else leaves as it is.
   */
  private phiOut(bytes: Uint8Array, method: string, shown: string): Uint8Array {
    const kind = dicomKind(bytes);
    if (kind === null) return bytes;
    if (this.phi === 'allow-raw') {
      this.auditRaw(method, shown);
      return bytes;
    }
    if (kind !== 'broken') {
      try {
        return anonymizeFor(bytes, this.uidSecret);
      } catch {
        // refused below
      }
    }
    throw new ValidationError(
      `${method}: ${shown} is DICOM that cannot be anonymized (incomplete or corrupt); under the runtime's PHI policy ('anonymize') DICOM leaves only anonymized`,
      { details: { reason: 'PHI', path: shown } },
    );
  }

  /** One line per raw DICOM file sent to a remote caller. */
  private auditRaw(method: string, file: string): void {
    const line = `PHI: raw DICOM sent (policy allow-raw): ${method} ${file}`;
    if (this.phiLog) this.phiLog(line);
    else process.stderr.write(`${line}\n`);
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
    try {
      await this.writeVerified(real, bytes, filename);
    } catch (err) {
      throw mapFsError(err, filename);
    }
  }

  /**
   * Whole-or-nothing write under verified folders. From the allowed dir that holds `real`, each
   * folder on the way is created if missing, opened, and its open descriptor's real path checked;
   * the next one is made and opened *through* that descriptor (Linux: /proc/self/fd/N/name, i.e.
   * mkdirat/openat/renameat), so a folder swapped for a symlink meanwhile is never entered. The temp
   * file is written in the last folder, whose real path is checked again right before the rename.
   */
  private async writeVerified(real: string, bytes: Uint8Array, shown: string): Promise<void> {
    const snap = this.policy.snapshot();
    const roots = snap.dirs === null ? [path.parse(real).root] : snap.dirs.filter((d) => isWithin(real, d));
    const root = roots.sort((x, y) => y.length - x.length)[0];
    if (!root) throw new ValidationError(`Path ${shown} not within list of allowed directories`, { details: { path: shown } });
    const segs = path.relative(root, path.dirname(real)).split(path.sep).filter((x) => x !== '');
    const name = path.basename(real);
    // An allowed dir that does not exist yet is created (the operator named it).
    if (!fs.existsSync(root)) fs.mkdirSync(root, { recursive: true });
    const refusedAt = (where: string) =>
      new ValidationError(`Path ${shown} not within list of allowed directories (${where} is outside)`, { details: { path: shown } });
    const changed = () => new NotFoundError(`putFile ${shown}: a folder on the way changed while writing; nothing was written`, { details: { path: shown } });
    let dir = this.openDir(root, snap, refusedAt, changed);
    try {
      let at = root;
      for (const seg of segs) {
        at = path.join(at, seg);
        const next = HAS_PROC_FD ? inFd(dir.fd, seg) : at;
        try {
          fs.mkdirSync(next);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const opened = this.openDir(next, snap, refusedAt, changed);
        fs.closeSync(dir.fd);
        dir = opened;
      }
      const tmpName = path.basename(tempNameFor(real));
      const tmp = HAS_PROC_FD ? inFd(dir.fd, tmpName) : path.join(dir.real, tmpName);
      const dest = HAS_PROC_FD ? inFd(dir.fd, name) : path.join(dir.real, name);
      try {
        // 'wx': O_CREAT|O_EXCL, never follows a link planted under the temp name.
        await fs.promises.writeFile(tmp, bytes, { flag: 'wx' });
        if (!stillAllowed(dir, snap)) throw refusedAt(path.dirname(real));
        await fs.promises.rename(tmp, dest);
      } catch (err) {
        await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
    } finally {
      fs.closeSync(dir.fd);
    }
  }

  private openDir(p: string, snap: PolicySnapshot, refusedAt: (where: string) => Error, changed: () => Error): VerifiedDir {
    const d = openDirVerified(p, snap);
    if (d === null) throw changed();
    if ('refused' in d) throw refusedAt(d.refused);
    return d;
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

  // ---------------------------------------------------------------- the remote methods

  /**
   * @internal What a remote caller reaches (remoteFacade, for every relay, LAN and WebRTC session):
   * the allow-listed methods, with the PHI policy applied to every one that hands out file bytes.
   * getImageData resolves with the dataset of the bytes to send. `alloc`: see readFileInto.
   */
  remoteMethods(alloc?: (size: number) => Uint8Array): Record<DataInterfaceMethod, (...args: unknown[]) => Promise<unknown>> {
    const o = Object.create(null) as Record<DataInterfaceMethod, (...args: unknown[]) => Promise<unknown>>;
    for (const m of DATA_INTERFACE_METHODS) {
      if (!(m in PHI_ROUTES)) {
        const f = (this as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m]!;
        o[m] = (...args) => f.apply(this, args);
      }
    }
    const anonymizeAll = this.phi === 'anonymize';
    o.getFile = (filename) => this.readFileInto(filename as string, alloc, true);
    o.getNewestFile = (pattern) => this.newestFile(pattern as string, true);
    o.watchFile = async (filename, timeout) => {
      const { bytes, file } = await this.watched(filename as string, timeout as number | null, anonymizeAll ? { anonymize: true, phi: true } : undefined);
      if (!anonymizeAll && dicomKind(bytes) !== null) this.auditRaw('watchFile', file);
      return bytes;
    };
    o.initScannerStream = async (imgDir, filePattern, minFileSize, anonymize, demoStep) => {
      const asked = anonymize ?? true;
      if (typeof asked !== 'boolean') throw new ValidationError('anonymize must be a boolean');
      const id = await this.initScannerStream(imgDir as string, filePattern as string, minFileSize as number, asked || anonymizeAll, demoStep as number);
      if (!asked && anonymizeAll) {
        this.phiLog?.(`PHI: initScannerStream ${String(imgDir)} ${String(filePattern)}: the client asked for anonymize=false; the runtime's policy is 'anonymize': stream ${id} is anonymized`);
      }
      return id;
    };
    o.getImageData = async (streamId, imageIndex, timeout) => {
      // A raw stream (opened in-process, or under 'allow-raw') is still anonymized for a remote
      // caller under 'anonymize'.
      const raw = this.streams.get(streamId as number)?.anonymize === false;
      const { ds, file } = await this.imageData(streamId as number, imageIndex as number | null | undefined, timeout as number | null, raw && anonymizeAll ? { anonymize: true } : undefined);
      if (raw && !anonymizeAll) this.auditRaw('getImageData', file);
      return ds;
    };
    return o;
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

/**
 * A typed error for a file-system failure (nothing untyped crosses the wire): the errno code goes in
 * `details.reason`. Refusals and bad arguments (ENOENT aside) are ValidationError; a state of the
 * control-room computer the caller cannot fix by asking differently (disk full, too many open
 * files, I/O error) is StateError.
 */
export function mapFsError(err: unknown, shown: string): Error {
  if (err instanceof RtfmriError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string') return err instanceof Error ? err : new Error(String(err));
  const p = shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
  const details = { reason: code, path: p };
  switch (code) {
    case 'ENOENT': return new NotFoundError(`File not found ${p}`, { details });
    case 'EISDIR': return new ValidationError(`${p} is a directory`, { details });
    case 'ENOTDIR': return new ValidationError(`${p}: a parent is not a directory`, { details });
    case 'ENAMETOOLONG': return new ValidationError(`${p}: path too long`, { details });
    case 'ELOOP': return new ValidationError(`${p}: too many levels of symbolic links`, { details });
    case 'EEXIST': return new ValidationError(`${p}: already exists`, { details });
    case 'ENOTEMPTY': return new ValidationError(`${p}: folder not empty`, { details });
    case 'EINVAL': return new ValidationError(`${p}: invalid argument`, { details });
    case 'EFBIG': return new ValidationError(`${p}: file too large`, { details });
    case 'EXDEV': return new ValidationError(`${p}: crosses file systems`, { details });
    case 'EACCES':
    case 'EPERM': return new ValidationError(`${p}: permission denied`, { details });
    case 'EROFS': return new ValidationError(`${p}: read-only file system`, { details });
    case 'ENOSPC': return new StateError(`${p}: no space left on device`, { details });
    case 'EDQUOT': return new StateError(`${p}: disk quota exceeded`, { details });
    case 'EMFILE':
    case 'ENFILE': return new StateError(`${p}: too many open files on the control-room computer`, { details });
    case 'EIO': return new StateError(`${p}: input/output error`, { details });
    default: return new StateError(`${p}: file system error ${code}`, { details });
  }
}
