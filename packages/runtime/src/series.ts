// Series discovery: a watch on a session folder tree that reports each new series folder, with its
// first file, as it appears, so a stream can follow "the next run" without knowing its name
// (Siemens real-time export session folders, GE exam/series folders, Philips series folders).
//
// This is where chokidar serves (native events; the polling route for network shares reads the
// levels itself): directories only, shallow, few entries, on Linux, macOS and Windows alike. Chokidar watches the session folder and the intermediate levels (depth - 1 of
// them); the series folders themselves are reported but never read or watched by it (its `depth`
// stops there), so a series folder's thousands of images cost chokidar nothing. Each new series
// folder is then looked at by this module only until its first file is there (fs.watch where
// events work, plus a short readdir poll: a new folder holds a few names). Image folders keep the
// runtime's own fs.watch route (watcher.ts), where chokidar was measured slow.
import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { nameMatcher } from '@rtfmri/files';
import { StateError, TimeoutError, ValidationError } from './errors.js';
import { abortReason } from './actors.js';

import type { SeriesInfo, SeriesWatchOptions } from '@rtfmri/relay/protocol';
export type { SeriesInfo, SeriesWatchOptions };

export interface SeriesDeps {
  /** Is a real path inside the allowed dirs? */
  isRealPathAllowed(real: string): boolean;
  /** Is a file name of an allowed type? */
  isTypeAllowed(name: string): boolean;
  /** Poll instead of native events (network shares). */
  usePolling: boolean;
  /** Readdir poll of a new series folder until its first file, ms. */
  pollIntervalMs: number;
}

export const MAX_SERIES_DEPTH = 4;
export const MAX_SERIES_EXCLUDE = 10_000;
const MAX_PATTERN = 255;

/** Checks and completes initSeriesWatch's options (they may come over the wire). */
export function normaliseSeriesOptions(o: unknown): Required<Omit<SeriesWatchOptions, 'exclude'>> & { exclude: Set<string> } {
  const opts = (o ?? {}) as Record<string, unknown>;
  const known = ['pattern', 'filePattern', 'depth', 'existing', 'exclude'];
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) throw new ValidationError(`initSeriesWatch: unknown option '${k}' (known: ${known.join(', ')}, and the per-call timeout, signal)`);
  }
  const str = (k: 'pattern' | 'filePattern') => {
    const v = opts[k] ?? '*';
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_PATTERN || /[\\/\0]/.test(v)) {
      throw new ValidationError(`initSeriesWatch: options.${k} must be a name pattern (no folders, at most ${MAX_PATTERN} characters) such as 's*'; got ${JSON.stringify(v)?.slice(0, 60)}`);
    }
    return v;
  };
  const depth = opts.depth ?? 1;
  if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 1 || depth > MAX_SERIES_DEPTH) {
    throw new ValidationError(`initSeriesWatch: options.depth must be an integer 1..${MAX_SERIES_DEPTH} (levels below the session folder); got ${String(depth)}`);
  }
  const existing = opts.existing ?? 'ignore';
  if (existing !== 'ignore' && existing !== 'report') throw new ValidationError(`initSeriesWatch: options.existing must be 'ignore' or 'report'; got ${String(existing)}`);
  const ex = opts.exclude ?? [];
  if (!Array.isArray(ex) || ex.length > MAX_SERIES_EXCLUDE || ex.some((d) => typeof d !== 'string' || d.length > 4096)) {
    throw new ValidationError(`initSeriesWatch: options.exclude must be an array of at most ${MAX_SERIES_EXCLUDE} absolute folder paths`);
  }
  return { pattern: str('pattern'), filePattern: str('filePattern'), depth, existing, exclude: new Set(ex as string[]) };
}

/** `001_000013_000001.dcm` -> `001_000013_{TR:06d}.dcm`, 1 (the last run of digits of the name; a numeric extension counts). */
export function guessStreamPattern(fileName: string): { filePattern: string; firstIndex: number } | null {
  // A brace in the name would read as a placeholder of its own.
  if (/[{}]/.test(fileName)) return null;
  const ext = path.extname(fileName);
  const cut = ext && !/^\.\d+$/.test(ext) ? fileName.length - ext.length : fileName.length;
  const stem = fileName.slice(0, cut);
  const m = /(\d+)(?!.*\d)/.exec(stem);
  if (!m || m[1].length > 32) return null;
  const digits = m[1];
  const field = digits.length > 1 && digits.startsWith('0') ? `{TR:0${digits.length}d}` : '{TR}';
  const filePattern = stem.slice(0, m.index) + field + stem.slice(m.index + digits.length) + fileName.slice(cut);
  return { filePattern, firstIndex: Number(digits) };
}

interface Pending {
  dir: string;
  timer?: NodeJS.Timeout;
  native?: fs.FSWatcher;
}

interface Waiter {
  resolve(s: SeriesInfo): void;
  reject(e: Error): void;
}

/** One series watch (DataInterface.initSeriesWatch). */
export class SeriesWatch {
  private watcher: FSWatcher | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private readonly ready: SeriesInfo[] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly seen = new Set<string>();
  private readonly waiters: Waiter[] = [];
  private readonly matchDir: (n: string) => boolean;
  private readonly matchFile: (n: string) => boolean;
  private closed = false;
  private closedWhy = 'the series watch was closed';
  /** Series folders present when the watch started (not reported unless existing: 'report'). */
  existingDirs: string[] = [];

  constructor(
    readonly root: string,
    readonly opts: ReturnType<typeof normaliseSeriesOptions>,
    private readonly deps: SeriesDeps,
  ) {
    this.matchDir = nameMatcher(opts.pattern);
    this.matchFile = nameMatcher(opts.filePattern);
  }

  /** Starts watching; resolves with the series folders already present, once the first scan is done. */
  async start(): Promise<string[]> {
    const initial = this.deps.usePolling ? await this.startPolling() : await this.startChokidar();
    initial.sort();
    this.existingDirs = initial;
    if (this.opts.existing === 'report') for (const d of initial) this.found(d);
    else for (const d of initial) this.seen.add(d);
    return initial;
  }

  /**
   * The polling route (network shares): the levels above the series folders are read every poll
   * interval. Not chokidar's polling: it takes each folder's first stat as the baseline after its
   * ready event, so a series folder made in that gap was never reported (a flaky test showed it).
   */
  private async startPolling(): Promise<string[]> {
    const initial = await this.scanSeriesDirs();
    let scanning = false;
    this.scanTimer = setInterval(() => {
      if (scanning || this.closed) return;
      scanning = true;
      this.scanSeriesDirs()
        .then((dirs) => {
          for (const d of dirs.sort()) if (!this.seen.has(d)) this.found(d);
        })
        .finally(() => (scanning = false));
    }, this.deps.pollIntervalMs);
    this.scanTimer.unref();
    return initial;
  }

  /** The folders at the series level, read level by level (readdir only; unreadable ones skipped). */
  private async scanSeriesDirs(): Promise<string[]> {
    let level = [this.root];
    for (let d = 0; d < this.opts.depth && level.length > 0; d++) {
      const next: string[] = [];
      for (const dir of level) {
        let entries: fs.Dirent[];
        try {
          entries = await fs.promises.readdir(dir, { withFileTypes: true });
        } catch {
          continue;
        }
        for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) next.push(path.join(dir, e.name));
      }
      level = next;
    }
    return level.filter((p) => this.isSeriesDir(p));
  }

  /** Starts chokidar; resolves with the series folders already present, once its first scan is done. */
  private async startChokidar(): Promise<string[]> {
    const initial: string[] = [];
    let started = false;
    const w = watch(this.root, {
      // chokidar's depth counts levels it descends into: the series level is reported, never read.
      depth: this.opts.depth - 1,
      // Directories only: files are filtered out (chokidar 4/5 have no globs).
      ignored: (p: string, st?: fs.Stats) => (st !== undefined && !st.isDirectory()) || (p !== this.root && path.basename(p).startsWith('.')),
      followSymlinks: false,
      persistent: false,
      ignoreInitial: false,
    });
    this.watcher = w;
    w.on('addDir', (p: string) => {
      if (!this.isSeriesDir(p)) return;
      if (!started) initial.push(p);
      else this.found(p);
    });
    w.on('error', () => {
      // A folder that vanished or became unreadable: chokidar carries on with the rest.
    });
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
    started = true;
    return initial;
  }

  /** A folder at the series level whose name matches, inside the allowed dirs, not excluded. */
  private isSeriesDir(p: string): boolean {
    const rel = path.relative(this.root, p);
    if (rel === '' || rel.startsWith('..')) return false;
    if (rel.split(path.sep).length !== this.opts.depth) return false;
    if (!this.matchDir(path.basename(p))) return false;
    if (this.opts.exclude.has(p)) return false;
    try {
      return this.deps.isRealPathAllowed(fs.realpathSync.native(p));
    } catch {
      return false;
    }
  }

  /** A new series folder: look for its first file now, then on its events and a short poll. */
  private found(dir: string): void {
    if (this.closed || this.seen.has(dir)) return;
    this.seen.add(dir);
    const p: Pending = { dir };
    this.pending.set(dir, p);
    const look = () => this.look(p);
    if (!this.deps.usePolling) {
      try {
        p.native = fs.watch(dir, { persistent: false }, look);
        p.native.on('error', () => {
          p.native?.close();
          p.native = undefined;
        });
      } catch {
        // no events here: the poll finds the file
      }
    }
    p.timer = setInterval(look, this.deps.pollIntervalMs);
    p.timer.unref();
    look();
  }

  private look(p: Pending): void {
    if (this.closed || !this.pending.has(p.dir)) return;
    let names: string[];
    try {
      names = fs.readdirSync(p.dir, { withFileTypes: true })
        .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isSymbolicLink()) && this.matchFile(e.name) && this.deps.isTypeAllowed(e.name))
        .map((e) => e.name);
    } catch (err) {
      // The folder is gone (renamed, deleted): forget it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') this.stopLooking(p);
      return;
    }
    if (names.length === 0) return;
    names.sort();
    const first = names[0];
    this.stopLooking(p);
    const guess = guessStreamPattern(first);
    const info: SeriesInfo = {
      dir: p.dir,
      name: path.relative(this.root, p.dir),
      firstFile: path.join(p.dir, first),
      filePattern: guess?.filePattern ?? null,
      firstIndex: guess?.firstIndex ?? null,
      foundAt: Date.now() / 1000,
    };
    const w = this.waiters.shift();
    if (w) w.resolve(info);
    else this.ready.push(info);
  }

  private stopLooking(p: Pending): void {
    if (p.timer) clearInterval(p.timer);
    p.native?.close();
    this.pending.delete(p.dir);
  }

  /** The next series (in the order their first files appeared), waiting up to `timeoutSec`. */
  next(timeoutSec: number, signal?: AbortSignal): Promise<SeriesInfo> {
    if (this.closed) return Promise.reject(new StateError(`nextSeries: ${this.closedWhy}`));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    return new Promise<SeriesInfo>((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const w: Waiter = { resolve: (s) => { done(); resolve(s); }, reject: (e) => { done(); reject(e); } };
      const t = setTimeout(() => {
        const waiting = [...this.pending.keys()].map((d) => path.relative(this.root, d));
        w.reject(new TimeoutError(
          `nextSeries: Timeout ${timeoutSec}s: no new series folder with a file in ${this.root}` +
          (waiting.length ? ` (new folder${waiting.length > 1 ? 's' : ''} without a matching file yet: ${waiting.slice(0, 5).join(', ')}${waiting.length > 5 ? ', ...' : ''})` : ''),
          { details: { root: this.root, waiting: waiting.slice(0, 20) } },
        ));
      }, timeoutSec * 1000);
      const onAbort = () => w.reject(abortReason(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  async close(why = 'the series watch was closed'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closedWhy = why;
    if (this.scanTimer) clearInterval(this.scanTimer);
    for (const p of [...this.pending.values()]) this.stopLooking(p);
    for (const w of this.waiters.splice(0)) w.reject(new StateError(`nextSeries: ${why}`));
    await this.watcher?.close();
  }
}
