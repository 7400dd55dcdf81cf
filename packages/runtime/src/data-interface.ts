import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as dicom from '@rtfmri/dicom-wasm';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { NotFoundError, StateError, TimeoutError, ValidationError } from './errors.js';
import { MAX_NAME_BYTES, PathPolicy } from './paths.js';
import {
  DATA_INTERFACE_METHODS, METHOD_ARGS, checkArgs, effectiveWait, splitCallOptions, type DataCallOptions, type DataInterfaceMethod,
} from '@rtfmri/relay/protocol';
import { currentCall } from '@rtfmri/transport';
export { DATA_INTERFACE_METHODS, type DataInterfaceMethod, type DataCallOptions };
import { hasGlob, isWithin } from '@rtfmri/files';
import { checkDemoStep, checkMinSize, checkTimeout, compileFilePattern, lastLookText, MAX_TIMEOUT_SEC, MAX_TR_WIDTH } from './args.js';
export { compileFilePattern, MAX_TIMEOUT_SEC, MAX_TR_WIDTH };
import { WatchHub, lockedByWriter, routeFor, type WatchRoute } from './watcher.js';
import { abortReason, FileWaiter, type Validated, type FileWaitDeps, type FileWaitOptions, type WaitCheck } from './actors.js';
import { SeriesWatch, normaliseSeriesOptions, type SeriesInfo, type SeriesWatchOptions } from './series.js';
import { dicomKind, type CheckRequest, type CheckResult } from './check.js';
import { WorkRouter, type WorkRoute } from './work-router.js';
import { FileOps } from './file-ops.js';
import { mapFsError } from './fs-errors.js';
export { mapFsError };
import { ByteStream } from '@rtfmri/transport';
import type { ChunkMemory } from './file-stream.js';
import type { PolicySnapshot } from './verified.js';

/** What putFile writes: a string (UTF-8), bytes, or a stream of bytes (async/sync iterable: a Node Readable, the RPC's IncomingStream). */
export type PutFileData = string | Uint8Array | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>;

/**
 * A file read as a stream: `for await (const chunk of s)` yields its bytes in order (about 1 MiB
 * each), exactly `size` of them; the iteration fails with a StateError (details.reason 'CHANGED')
 * if the file changed size or was written to meanwhile. Read once; `close()` gives it up unread.
 */
export interface FileStream extends AsyncIterable<Uint8Array> {
  readonly size: number;
  close(): void;
}

/** How a remote getFile of a large non-DICOM file travels: its size, then its bytes as a flow-controlled stream. */
export interface RemoteFileStream {
  size: number;
  stream: ByteStream;
}

/** Where a stream's CPU work (read, completeness check, anonymize) runs. */
export type { WorkRoute };

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
  /** The file-name part of the pattern initWatch was given. */
  filePattern: string;
  minFileSize: number;
  waiter: FileWaiter<Uint8Array>;
  release: () => void;
}

/** Options of the SDK's remote DataInterface: given here, the caller meant a remote one. */
const REMOTE_ONLY_OPTIONS = ['url', 'link', 'token', 'name', 'clientId', 'callTimeoutMs', 'ws'] as const;


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
  private readonly pollIntervalMs: number;
  /** Where the CPU part of a look runs: this thread or the Piscina pool (work-router.ts). */
  private readonly work: WorkRouter;
  /** getFile, getNewestFile, getFileStream, putFile, listFiles, listDirs and the PHI policy on them (file-ops.ts). */
  private readonly files: FileOps;
  private readonly streams = new Map<number, Stream>();
  private readonly watches = new Map<string, Watch>();
  private lastWatch: Watch | null = null;
  private series: SeriesWatch | undefined;
  private lastStreamId = 0;
  private closed = false;
  private readyP: Promise<void> | null = null;
  /** Session secret of the UID map (replacement UIDs are consistent across streams and threads). */
  private readonly uidSecret: string;
  /** See lookPolicy. */
  private turnPolicy: PolicySnapshot | undefined;
  /** How the last validations were routed (diagnostics, benchmark). */
  get routed(): { inline: number; pool: number } {
    return this.work.routed;
  }

  constructor(opts: DataInterfaceOptions = {}) {
    if (opts.uidSecret !== undefined && (typeof opts.uidSecret !== 'string' || opts.uidSecret.length < 16)) {
      throw new ValidationError('uidSecret must be a string of at least 16 characters');
    }
    this.uidSecret = opts.uidSecret ?? randomBytes(16).toString('hex');
    if (opts.dataRemote === true) {
      throw new ValidationError('dataRemote: true is the SDK stub (@rtfmri/sdk); @rtfmri/runtime is the local DataInterface');
    }
    const remoteOnly = REMOTE_ONLY_OPTIONS.filter((k) => (opts as Record<string, unknown>)[k] !== undefined);
    if (remoteOnly.length > 0) {
      throw new ValidationError(
        `${remoteOnly.join(', ')}: ${remoteOnly.length > 1 ? 'these are options' : 'an option'} of a remote DataInterface; this one runs here, on the control-room computer. ` +
        "To reach a runtime through a relay, use @rtfmri/sdk's new DataInterface({ dataRemote: true, url, token, name })",
        { details: { reason: 'REMOTE_OPTIONS', options: remoteOnly } },
      );
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
    this.work = new WorkRouter(opts.work ?? 'auto', opts.poolThreads);
    this.files = new FileOps({ policy: this.policy, phi: this.phi, phiLog: this.phiLog, uidSecret: this.uidSecret, ensureOpen: () => this.ensureOpen() });
  }

  private ensureOpen(): void {
    if (this.closed) throw new StateError('DataInterface is closed');
  }

  private ready(): Promise<void> {
    return (this.readyP ??= Promise.resolve(dicom.ready()).then(() => undefined));
  }

  /**
   * A public call's arguments: the per-call options split off (the last argument when it is a
   * `{ timeout, signal }` object), the positional types checked (a wrong type names the argument
   * and what was expected), a signal aborted already refused.
   */
  private begin(method: DataInterfaceMethod, raw: readonly unknown[]): { args: unknown[]; options: DataCallOptions | undefined } {
    const r = splitCallOptions(method, raw);
    checkArgs(method, r.args);
    if (r.options?.signal?.aborted) throw abortReason(r.options.signal);
    return r;
  }

  /**
   * A call that does not wait for data, under the per-call options: it rejects with TimeoutError
   * once `options.timeout` has passed, or with the signal's reason when aborted. The work itself
   * is not interrupted (it is a file operation of this process); a result that arrives after the
   * caller gave up is handed to `undo` (a stream opened too late is closed again).
   */
  private bounded<T>(method: string, options: DataCallOptions | undefined, run: () => Promise<T>, undo?: (v: T) => void): Promise<T> {
    const p = run();
    if (!options || (options.timeout === undefined && !options.signal)) return p;
    const { timeout, signal } = options;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => settle(() => reject(abortReason(signal!)));
      const settle = (f: () => void) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      if (timeout !== undefined) {
        const secs = Math.min(timeout, MAX_TIMEOUT_SEC);
        timer = setTimeout(() => settle(() => reject(new TimeoutError(`${method}: the call's timeout of ${secs} s (options.timeout) passed`, { details: { reason: 'CALL_TIMEOUT' } }))), secs * 1000);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => { if (done) undo?.(v); else settle(() => resolve(v)); },
        (e) => settle(() => reject(e)),
      );
    });
  }

  /**
   * The API's calls after their arguments were split and checked: the public methods (with the
   * caller's per-call options) and the remote facade (with the remote call's cancel signal) run
   * these. The PHI routes have their own remote versions (remoteMethods).
   */
  private run(m: DataInterfaceMethod, a: unknown[], o: DataCallOptions | undefined): Promise<unknown> {
    switch (m) {
      case 'initScannerStream':
        return this.bounded(m, o, () => this.openStream(a[0] as string, a[1] as string, a[2] as number, a[3] as boolean | undefined, a[4] as number | undefined),
          (id) => void this.closeStreamNow(id).catch(() => undefined));
      case 'getImageData':
        return this.imageData(a[0] as number, a[1] as number | null | undefined, effectiveWait(a[2], o) as number | null | undefined, undefined, o?.signal).then((r) => r.ds);
      case 'closeStream': return this.bounded(m, o, () => this.closeStreamNow(a[0] as number));
      case 'getFile': return this.bounded(m, o, () => this.files.readFileInto(a[0] as string));
      case 'getNewestFile': return this.bounded(m, o, () => this.files.newestFile(a[0] as string, false));
      case 'initWatch': return this.bounded(m, o, () => this.openWatch(a[0] as string, a[1] as string, a[2] as number, a[3] as number | undefined));
      case 'watchFile':
        return this.watched(a[0] as string, effectiveWait(a[1], o) as number | null | undefined, undefined, o?.signal).then((r) => r.bytes);
      case 'putFile': return this.bounded(m, o, () => this.files.putFileNow(a[0] as string, a[1] as string | Uint8Array, a[2] as boolean | undefined));
      case 'listFiles': return this.bounded(m, o, () => this.files.listFilesNow(a[0] as string));
      case 'listDirs': return this.bounded(m, o, () => this.files.listDirsNow(a[0] as string));
      case 'getAllowedFileTypes': return Promise.resolve([...this.policy.allowedFileTypes]);
      case 'getClockSkew': return Promise.resolve(this.clockSkew(a[0] as number, a[1] as number));
      case 'ping': return Promise.resolve(Date.now() / 1000);
      case 'initSeriesWatch': return this.bounded(m, o, () => this.openSeriesWatch(a[0] as string, a[1]), () => void this.closeSeriesNow());
      case 'nextSeries': return this.seriesNext(effectiveWait(a[0], o), o?.signal);
      case 'closeSeriesWatch': return this.bounded(m, o, () => this.closeSeriesNow());
    }
  }

  /** A public method: split, check, run. Errors (a wrong argument too) reject the returned promise. */
  private call(m: DataInterfaceMethod, raw: readonly unknown[]): Promise<unknown> {
    try {
      const { args, options } = this.begin(m, raw);
      return this.run(m, args, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // ---------------------------------------------------------------- streams

  /**
   * A new scanner stream (its id). `options` (last): the per-call `{ timeout, signal }` (DESIGN's
   * positional arguments are unchanged; any trailing optional one may be left out before it).
   */
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize?: boolean | null, demoStep?: number | null, options?: DataCallOptions): Promise<number>;
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, options: DataCallOptions): Promise<number>;
  initScannerStream(...raw: unknown[]): Promise<number> {
    return this.call('initScannerStream', raw) as Promise<number>;
  }

  private async openStream(imgDir: string, filePattern: string, minFileSize: number, anonymize: boolean | null = true, demoStep: number | null = 0): Promise<number> {
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
    await this.work.warm();
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

  /**
   * The next (no index) or the given volume of a stream, waiting up to `timeout` seconds (default 5).
   * `options.timeout` bounds the wait too (and is the wait when `timeout` is not given):
   * `getImageData(id, null, 30)` and `getImageData(id, { timeout: 30 })` wait alike;
   * `options.signal` ends the wait (CancelledError) and the stream takes the next request.
   */
  getImageData(streamId: number, imageIndex?: number | null, timeout?: number | null, options?: DataCallOptions): Promise<DicomDataset>;
  getImageData(streamId: number, options: DataCallOptions): Promise<DicomDataset>;
  getImageData(...raw: unknown[]): Promise<DicomDataset> {
    return this.call('getImageData', raw) as Promise<DicomDataset>;
  }

  private async imageData(streamId: number, imageIndex: number | null | undefined, timeout: number | null | undefined, options: FileWaitOptions | undefined, signal?: AbortSignal): Promise<{ ds: DicomDataset; file: string }> {
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
      (name, last) => {
        const f = path.join(s.imgDir, name);
        return new NotFoundError(`getImageData: Dicom file ${f} not found or corrupted${lastLookText(last, s.waiter.cfg.minFileSize, f)}`, {
          details: { streamId, imageIndex: index, ...(last?.status === 'small' ? { reason: 'MIN_FILE_SIZE', size: last.size, minFileSize: s.waiter.cfg.minFileSize } : {}), ...(last?.status === 'locked' ? { reason: last.code } : {}) },
        });
      },
      options,
      signal,
    );
    s.nextIndex = index + 1;
    return { ds, file };
  }

  /** Ends a stream: its id then gives "StreamID mismatch"; a pending getImageData is rejected. */
  closeStream(streamId: number, options?: DataCallOptions): Promise<void>;
  closeStream(...raw: unknown[]): Promise<void> {
    return this.call('closeStream', raw) as Promise<void>;
  }

  private async closeStreamNow(streamId: number): Promise<void> {
    const s = this.streams.get(streamId);
    if (!s) throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    this.streams.delete(streamId);
    s.waiter.close();
    s.release();
  }

  // ---------------------------------------------------------------- watches

  /**
   * Watches `dir` for files (watchFile). `filePattern` is a file-name pattern (`*.dcm`), or a full
   * path pattern whose folder is `dir` itself (rt-cloud's own test passes `/dir/001_000013_000005*`).
   */
  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep?: number | null, options?: DataCallOptions): Promise<void>;
  initWatch(dir: string, filePattern: string, minFileSize: number, options: DataCallOptions): Promise<void>;
  initWatch(...raw: unknown[]): Promise<void> {
    return this.call('initWatch', raw) as Promise<void>;
  }

  /**
   * The file-name part of initWatch's pattern. A pattern with a folder part is accepted when that
   * folder resolves (`..`, symlinks) to the watched folder itself; anything else is refused naming
   * both (watches do not look into subfolders).
   */
  private watchNamePattern(dir: string, real: string, filePattern: string): string {
    if (filePattern.length === 0 || filePattern.includes('\0')) {
      throw new ValidationError(`initWatch: filePattern must be a file name pattern such as '*.dcm' (got ${filePattern.length === 0 ? 'an empty string' : 'a NUL byte'})`);
    }
    if (Buffer.byteLength(filePattern) > 4096) throw new ValidationError('initWatch: filePattern too long (at most 4096 bytes)', { details: { reason: 'ENAMETOOLONG' } });
    let name = filePattern;
    if (filePattern.includes('/') || filePattern.includes(path.sep)) {
      name = path.basename(filePattern);
      const folder = path.isAbsolute(filePattern) ? path.dirname(filePattern) : path.resolve(dir, path.dirname(filePattern));
      const shownDir = real === dir ? dir : `${dir} (${real})`;
      if (folder.split(/[\\/]/).some((seg) => hasGlob(seg))) {
        throw new ValidationError(`initWatch: filePattern ${filePattern} has a wildcard in its folder part; its folder must be the watched folder ${shownDir}`, {
          details: { reason: 'PATTERN_DIR', dir, pattern: filePattern },
        });
      }
      const patReal = this.policy.canonicalise(folder).real;
      if (patReal !== real) {
        const sub = isWithin(patReal, real) ? ' (a subfolder: watches do not look into subfolders; initWatch that folder instead)' : '';
        throw new ValidationError(
          `initWatch: filePattern ${filePattern} is in ${folder}${patReal !== folder ? ` (resolves to ${patReal})` : ''}, not in the watched folder ${shownDir}${sub}; give a file name pattern such as '${name}'`,
          { details: { reason: 'PATTERN_DIR', dir, pattern: filePattern, patternDir: patReal } },
        );
      }
    }
    if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES) {
      throw new ValidationError(`initWatch: filePattern's file name part must be 1..${MAX_NAME_BYTES} bytes (got ${Buffer.byteLength(name)})`);
    }
    this.policy.checkPatternType(name);
    return name;
  }

  private async openWatch(dir: string, filePattern: string, minFileSize: number, demoStep: number | null = 0): Promise<void> {
    this.ensureOpen();
    const real = this.policy.checkDir(dir);
    const namePattern = this.watchNamePattern(dir, real, filePattern);
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
    const w: Watch = { dir: real, filePattern: namePattern, minFileSize: min, waiter, release };
    this.watches.set(real, w);
    this.lastWatch = w;
  }

  /** A watched file's bytes once present (and whole, for DICOM), waiting up to `timeout` s (default 5; see getImageData for `options`). */
  watchFile(filename: string, timeout?: number | null, options?: DataCallOptions): Promise<Uint8Array>;
  watchFile(filename: string, options: DataCallOptions): Promise<Uint8Array>;
  watchFile(...raw: unknown[]): Promise<Uint8Array> {
    return this.call('watchFile', raw) as Promise<Uint8Array>;
  }

  private async watched(filename: string, timeout: number | null | undefined, options: FileWaitOptions | undefined, signal?: AbortSignal): Promise<{ bytes: Uint8Array; file: string }> {
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
    const bytes = await w.waiter.request(
      name,
      secs,
      (n, last) => {
        const f = path.join(w.dir, n);
        return new TimeoutError(`WatchFile: Timeout ${secs}s: ${n}${last && last.status !== 'missing' ? lastLookText(last, w.minFileSize, f) : ''}`, {
          details: { path: f, ...(last?.status === 'small' ? { reason: 'MIN_FILE_SIZE', size: last.size, minFileSize: w.minFileSize } : {}), ...(last?.status === 'locked' ? { reason: last.code } : {}) },
        });
      },
      options,
      signal,
    );
    return { bytes, file: path.join(w.dir, name) };
  }

  // ---------------------------------------------------------------- series discovery

  /**
   * Watches a session folder tree for new series folders (`options.depth` levels below it, names
   * matching `options.pattern`), each reported by nextSeries once its first file is there. Resolves
   * with the series folders already present (not reported unless `options.existing` is 'report').
   * One series watch at a time: a second initSeriesWatch replaces the first.
   */
  initSeriesWatch(sessionDir: string, options?: SeriesWatchOptions & DataCallOptions): Promise<string[]>;
  initSeriesWatch(...raw: unknown[]): Promise<string[]> {
    return this.call('initSeriesWatch', raw) as Promise<string[]>;
  }

  private async openSeriesWatch(sessionDir: string, o: unknown): Promise<string[]> {
    this.ensureOpen();
    const real = this.policy.checkDir(sessionDir);
    const opts = normaliseSeriesOptions(o);
    if (!this.policy.allTypes && this.policy.allowedFileTypes.length === 0) throw new ValidationError('DataInterface: no allowed file types are set');
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(real, { throwIfNoEntry: false });
    } catch (err) {
      throw mapFsError(err, sessionDir);
    }
    if (!st) throw new NotFoundError(`initSeriesWatch: ${sessionDir} does not exist (watch the folder above it with options.depth 2 when the session folder is made later)`, { details: { path: sessionDir } });
    if (!st.isDirectory()) throw new ValidationError(`initSeriesWatch: ${sessionDir} is not a folder`, { details: { reason: 'ENOTDIR', path: sessionDir } });
    await this.closeSeriesNow('replaced by a new initSeriesWatch');
    const route = this.hub.route === 'auto' ? routeFor(real) : this.hub.route;
    const sw = new SeriesWatch(real, opts, {
      isRealPathAllowed: (r) => this.policy.isRealPathAllowed(r),
      isTypeAllowed: (n) => this.policy.isTypeAllowed(n),
      usePolling: route === 'polling',
      pollIntervalMs: Math.min(100, this.pollIntervalMs),
    });
    this.series = sw;
    const existing = await sw.start();
    if (this.closed || this.series !== sw) {
      await sw.close();
      throw new StateError('initSeriesWatch: the DataInterface was closed, or another initSeriesWatch came, while this one started');
    }
    return existing;
  }

  /**
   * The next new series folder of the series watch, once its first file is there:
   * `{ dir, name, firstFile, filePattern, firstIndex, foundAt }` (`filePattern`/`firstIndex`: a
   * stream pattern guessed from the first file's name). Waits up to `timeout` s (default 5;
   * runs take minutes to start: pass a long one). Series come in the order their first files appeared.
   */
  nextSeries(timeout?: number | null, options?: DataCallOptions): Promise<SeriesInfo>;
  nextSeries(options: DataCallOptions): Promise<SeriesInfo>;
  nextSeries(...raw: unknown[]): Promise<SeriesInfo> {
    return this.call('nextSeries', raw) as Promise<SeriesInfo>;
  }

  private async seriesNext(timeout: unknown, signal: AbortSignal | undefined): Promise<SeriesInfo> {
    this.ensureOpen();
    if (!this.series) throw new StateError('DataInterface: nextSeries() called without an initSeriesWatch()');
    const secs = checkTimeout(timeout ?? 5, 'nextSeries');
    return this.series.next(secs, signal);
  }

  /** Ends the series watch (a pending nextSeries is rejected with StateError). */
  closeSeriesWatch(options?: DataCallOptions): Promise<void>;
  closeSeriesWatch(...raw: unknown[]): Promise<void> {
    return this.call('closeSeriesWatch', raw) as Promise<void>;
  }

  private async closeSeriesNow(why?: string): Promise<void> {
    const sw = this.series;
    this.series = undefined;
    await sw?.close(why);
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
        case 'small': return { status: 'small', size: r.size };
        case 'incomplete': return { status: 'incomplete', size: r.size, mtimeMs: r.mtimeMs };
        case 'refused': throw this.files.refusal(req.path, r.why, r.real);
        case 'unanonymizable':
          throw new ValidationError(`${req.path} is DICOM that cannot be anonymized (${r.message.slice(0, 200)}): it is not sent`, { details: { reason: 'PHI', path: req.path } });
        case 'error': {
          // A file its writer still holds (Windows, SMB shares) is waited for, not an error.
          const locked = settleLocked(r.code, req.path);
          if (locked) return locked;
          throw mapFsError(Object.assign(new Error(r.message), { code: r.code }), req.path);
        }
        default: return { status: 'missing' };
      }
    };
    const validate = (look: WaitCheck): Validated<T> | Promise<Validated<T>> => {
      const request: CheckRequest = { ...look, policy: this.lookPolicy() };
      const req = request.anonymize ? { ...request, uidSecret: this.uidSecret } : request;
      const r = this.work.run(req);
      return r instanceof Promise ? r.then((x) => settle(x, req)) : settle(r, req);
    };
    return { validate, pollIntervalMs: this.pollIntervalMs };
  }

  /**
   * The policy snapshot the streams' and watches' looks check against, taken once per event-loop
   * turn: its allowed dirs are realpath'd (a syscall each), and a burst (16 streams' files closed
   * at once) looks at many files in the same turn. An allowed dir created or swapped for a symlink
   * counts from the next turn on, which is no later than a look that raced the change anyway.
   */
  private lookPolicy(): PolicySnapshot {
    if (!this.turnPolicy) {
      this.turnPolicy = this.policy.snapshot();
      setImmediate(() => { this.turnPolicy = undefined; });
    }
    return this.turnPolicy;
  }

  // ---------------------------------------------------------------- files

  getFile(filename: string, options?: DataCallOptions): Promise<Uint8Array>;
  getFile(...raw: unknown[]): Promise<Uint8Array> {
    return this.call('getFile', raw) as Promise<Uint8Array>;
  }



  /**
   * A file as a stream of chunks read from disk as they are consumed (memory: about two chunks),
   * for files too large to hold or to hand on as they arrive. In this process: the file's bytes,
   * as getFile. Through the SDK's remote DataInterface the runtime's PHI policy applies as for getFile.
   */
  async getFileStream(filename: string): Promise<FileStream> {
    return this.files.getFileStream(filename);
  }

  getNewestFile(filepattern: string, options?: DataCallOptions): Promise<Uint8Array>;
  getNewestFile(...raw: unknown[]): Promise<Uint8Array> {
    return this.call('getNewestFile', raw) as Promise<Uint8Array>;
  }







  putFile(filename: string, data: PutFileData, compress?: boolean | null, options?: DataCallOptions): Promise<void>;
  putFile(filename: string, data: PutFileData, options: DataCallOptions): Promise<void>;
  putFile(...raw: unknown[]): Promise<void> {
    return this.call('putFile', raw) as Promise<void>;
  }




  listFiles(filepattern: string, options?: DataCallOptions): Promise<string[]>;
  listFiles(...raw: unknown[]): Promise<string[]> {
    return this.call('listFiles', raw) as Promise<string[]>;
  }


  listDirs(dirpattern: string, options?: DataCallOptions): Promise<string[]>;
  listDirs(...raw: unknown[]): Promise<string[]> {
    return this.call('listDirs', raw) as Promise<string[]>;
  }



  getAllowedFileTypes(options?: DataCallOptions): Promise<string[]>;
  getAllowedFileTypes(...raw: unknown[]): Promise<string[]> {
    return this.call('getAllowedFileTypes', raw) as Promise<string[]>;
  }

  /** rt-cloud's formula: seconds the scanner's clock is ahead of the caller's. */
  getClockSkew(callerClockTime: number, roundTripTime: number, options?: DataCallOptions): Promise<number>;
  getClockSkew(...raw: unknown[]): Promise<number> {
    return this.call('getClockSkew', raw) as Promise<number>;
  }

  private clockSkew(callerClockTime: number, roundTripTime: number): number {
    const callerClockAdjToNow = callerClockTime + roundTripTime / 2;
    return Date.now() / 1000 - callerClockAdjToNow + this.scannerClockSkew;
  }

  ping(options?: DataCallOptions): Promise<number>;
  ping(...raw: unknown[]): Promise<number> {
    return this.call('ping', raw) as Promise<number>;
  }

  // ---------------------------------------------------------------- the remote methods

  /**
   * @internal What a remote caller reaches (remoteFacade, for every relay, LAN and WebRTC session):
   * the allow-listed methods, with the PHI policy applied to every one that hands out file bytes.
   * getImageData resolves with the dataset of the bytes to send. `alloc`: see readFileInto.
   */
  remoteMethods(alloc?: (size: number) => Uint8Array, chunkMemory?: ChunkMemory): Record<DataInterfaceMethod, (...args: unknown[]) => Promise<unknown>> {
    const o = Object.create(null) as Record<DataInterfaceMethod, (...args: unknown[]) => Promise<unknown>>;
    const anonymizeAll = this.phi === 'anonymize';
    // The PHI routes (the remote methods that hand out file bytes: getFile, getNewestFile,
    // watchFile, initScannerStream + getImageData) apply the policy here; the others hand out none.
    const remote = (m: DataInterfaceMethod, a: unknown[], signal: AbortSignal | undefined): Promise<unknown> => {
      switch (m) {
        case 'getFile': return this.files.readFileInto(a[0] as string, alloc, true, chunkMemory);
        case 'getNewestFile': return this.files.newestFile(a[0] as string, true);
        case 'watchFile': return (async () => {
          const { bytes, file } = await this.watched(a[0] as string, a[1] as number | null | undefined, anonymizeAll ? { anonymize: true, phi: true } : undefined, signal);
          if (!anonymizeAll && dicomKind(bytes) !== null) this.files.auditRaw('watchFile', file);
          return bytes;
        })();
        case 'initScannerStream': return (async () => {
          const [imgDir, filePattern, minFileSize, anonymize, demoStep] = a;
          const asked = anonymize ?? true;
          const id = await this.openStream(imgDir as string, filePattern as string, minFileSize as number, (asked as boolean) || anonymizeAll, demoStep as number | undefined);
          if (!asked && anonymizeAll) {
            this.phiLog?.(`PHI: initScannerStream ${String(imgDir)} ${String(filePattern)}: the client asked for anonymize=false; the runtime's policy is 'anonymize': stream ${id} is anonymized`);
          }
          return id;
        })();
        case 'getImageData': return (async () => {
          // A raw stream (opened in-process, or under 'allow-raw') is still anonymized for a remote
          // caller under 'anonymize'.
          const raw = this.streams.get(a[0] as number)?.anonymize === false;
          const { ds, file } = await this.imageData(a[0] as number, a[1] as number | null | undefined, a[2] as number | null | undefined, raw && anonymizeAll ? { anonymize: true } : undefined, signal);
          if (raw && !anonymizeAll) this.files.auditRaw('getImageData', file);
          return ds;
        })();
        default: return this.run(m, a, signal ? { signal } : undefined);
      }
    };
    for (const m of DATA_INTERFACE_METHODS) {
      const arity = METHOD_ARGS[m].length;
      const waits = m === 'getImageData' || m === 'watchFile' || m === 'nextSeries';
      o[m] = (...raw) => {
        // Only the method's own positional arguments are taken: nothing a client sends is read as
        // per-call options. A wait ends when the remote call does (the client cancelled, its
        // deadline passed, the link dropped): the call's signal, read now (transport's currentCall
        // is valid synchronously at the start of an exposed method), so the stream or watch takes
        // the next request instead of waiting out a call nobody receives.
        const args = raw.slice(0, arity);
        try {
          checkArgs(m, args);
          return remote(m, args, waits ? currentCall()?.signal : undefined);
        } catch (e) {
          return Promise.reject(e);
        }
      };
    }
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
    await this.closeSeriesNow('the DataInterface was closed');
    this.hub.closeAll();
    await this.work.release();
  }

  /** Diagnostics: the state of a stream's actor (e.g. 'waitingForComplete'). */
  streamState(streamId: number): string | undefined {
    return this.streams.get(streamId)?.waiter.state;
  }
}

/**
 * A stream's or watch's look that failed with `code`: a file its writer still holds (EBUSY, and
 * EPERM/EACCES on Windows and network shares: watcher.ts lockedByWriter) is 'locked', waited for
 * like a file being written; anything else (undefined) is an error.
 */
export function settleLocked(code: string, file: string, platform: NodeJS.Platform = process.platform): Validated<never> | undefined {
  const locked = lockedByWriter(code, { platform, onShare: () => routeFor(path.dirname(file)) === 'polling' });
  return locked ? { status: 'locked', code } : undefined;
}
