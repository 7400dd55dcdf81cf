// Plays a series into a folder the way a scanner writes it: one file per TR, each written in a
// few chunks spread over part of the TR (in place, or to a hidden temp name and renamed in), so
// watchers and streams see half-written files exactly as they would in a control room.
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface ReplaySource {
  /** TR index (order of writing). */
  index: number;
  /** File name written into the destination folder. */
  name: string;
  /** The file's bytes, or a function producing them (read or generated just in time). */
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

export interface ReplayEvent {
  index: number;
  name: string;
  path: string;
  bytes: number;
  /** nowMs() when the first byte was written. */
  startedAt: number;
  /**
   * nowMs() just before the last write() (in-place mode: a reader can see the whole file from
   * this moment on, possibly before close() returns); with rename, just before the rename.
   */
  lastWriteAt: number;
  /** nowMs() right after the file became whole under its final name (close, or rename). */
  closedAt: number;
}

export interface ReplayOptions {
  /** Seconds between the starts of consecutive files. */
  tr: number;
  /** Write to `.<name>.part` and rename into place when whole (default: write in place). */
  rename?: boolean;
  /** Number of write() calls per file (default 4). */
  chunks?: number;
  /** Part of the TR over which a file's chunks are spread (default 0.2, at most 1). */
  writeFraction?: number;
  /** Seconds to wait before the first file (default 0). */
  startDelay?: number;
  signal?: AbortSignal;
  onFile?: (ev: ReplayEvent) => void;
  /**
   * Open, write, close and rename with blocking calls (default false). An async write waits for a
   * thread-pool thread and its completion for this event loop: with the replay in a process that
   * also does other work (the demo's experiment), lastWriteAt would then be stamped up to
   * milliseconds before the bytes reach the file. Blocking, the stamp is right before the syscall.
   */
  syncWrites?: boolean;
}

export interface ReplayResult {
  files: ReplayEvent[];
  aborted: boolean;
}

function sleepUntil(t: number, signal?: AbortSignal): Promise<boolean> {
  const ms = t - nowMs();
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Writes `sources` in order into `destDir` at TR pace. Resolves when the last file is whole. */
export async function replayFiles(sources: Iterable<ReplaySource>, destDir: string, opts: ReplayOptions): Promise<ReplayResult> {
  if (!(opts.tr >= 0)) throw new RangeError(`tr must be >= 0, got ${opts.tr}`);
  const chunks = Math.max(1, Math.floor(opts.chunks ?? 4));
  const fraction = Math.min(1, Math.max(0, opts.writeFraction ?? 0.2));
  await mkdir(destDir, { recursive: true });
  const files: ReplayEvent[] = [];
  const t0 = nowMs() + (opts.startDelay ?? 0) * 1000;
  let slot = 0;
  for (const src of sources) {
    const due = t0 + slot * opts.tr * 1000;
    slot++;
    if (!(await sleepUntil(due, opts.signal))) return { files, aborted: true };
    const data = typeof src.data === 'function' ? await src.data() : src.data;
    const finalPath = join(destDir, src.name);
    const writePath = opts.rename ? join(destDir, `.${src.name}.part`) : finalPath;
    const gap = chunks > 1 ? (opts.tr * 1000 * fraction) / (chunks - 1) : 0;
    const startedAt = nowMs();
    let lastWriteAt = startedAt;
    const size = Math.ceil(data.length / chunks);
    if (opts.syncWrites) {
      const fd = openSync(writePath, 'w');
      try {
        for (let c = 0; c < chunks; c++) {
          if (c > 0 && gap > 0 && !(await sleepUntil(startedAt + c * gap, opts.signal))) return { files, aborted: true };
          const part = data.subarray(c * size, Math.min(data.length, (c + 1) * size));
          lastWriteAt = nowMs();
          for (let off = 0; off < part.length; ) off += writeSync(fd, part, off, part.length - off);
        }
      } finally {
        closeSync(fd);
      }
      if (opts.rename) {
        lastWriteAt = nowMs();
        renameSync(writePath, finalPath);
      }
    } else {
      const fh = await open(writePath, 'w');
      try {
        for (let c = 0; c < chunks; c++) {
          if (c > 0 && gap > 0 && !(await sleepUntil(startedAt + c * gap, opts.signal))) return { files, aborted: true };
          const part = data.subarray(c * size, Math.min(data.length, (c + 1) * size));
          lastWriteAt = nowMs();
          if (part.length) await fh.write(part, 0, part.length);
        }
      } finally {
        await fh.close();
      }
      if (opts.rename) {
        lastWriteAt = nowMs();
        await rename(writePath, finalPath);
      }
    }
    const ev: ReplayEvent = { index: src.index, name: src.name, path: finalPath, bytes: data.length, startedAt, lastWriteAt, closedAt: nowMs() };
    files.push(ev);
    opts.onFile?.(ev);
  }
  return { files, aborted: false };
}

// ---- series discovery -------------------------------------------------------------------

/** Regex for a `{TR}` / `{TR:03d}` file pattern; the capture group is the index. */
export function patternRegex(pattern: string): RegExp {
  const m = pattern.match(/\{TR(?::0?(\d+)d)?\}/);
  if (!m || pattern.indexOf('{TR', m.index! + 1) >= 0) throw new RangeError(`pattern must contain exactly one {TR}, {TR:03d} or {TR:06d}: '${pattern}'`);
  const rest = pattern.replace(m[0], '');
  if (/[{}]/.test(rest)) throw new RangeError(`pattern has an unknown placeholder: '${pattern}'`);
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const before = pattern.slice(0, m.index);
  const after = pattern.slice(m.index! + m[0].length);
  const digits = m[1] ? `(\\d{${Number(m[1])},})` : '(\\d+)';
  return new RegExp(`^${esc(before)}${digits}${esc(after)}$`);
}

/** Fills a `{TR...}` pattern with an index, as the runtime's streams do. */
export function fillPattern(pattern: string, index: number): string {
  return pattern.replace(/\{TR(?::0?(\d+)d)?\}/, (_all, w: string | undefined) => String(index).padStart(w ? Number(w) : 0, '0'));
}

export interface SeriesFile {
  index: number;
  name: string;
  path: string;
}

/**
 * Finds the series in `srcDir`: the files matching `pattern`, or without one, the largest group
 * of names that differ only in their last run of digits (so `trunc_x_000005.dcm` next to
 * `x_0000NN.dcm` is left out). Sorted by index.
 */
export async function findSeries(srcDir: string, pattern?: string): Promise<{ pattern: string; files: SeriesFile[] }> {
  const entries = await readdir(srcDir, { withFileTypes: true });
  const names = entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (!pattern) {
    const groups = new Map<string, string[]>();
    for (const n of names) {
      const m = n.match(/^(.*?)(\d+)(\D*)$/);
      if (!m) continue;
      const key = `${m[1]}\0${m[2]!.length}\0${m[3]}`;
      groups.set(key, [...(groups.get(key) ?? []), n]);
    }
    let best: [string, string[]] | undefined;
    for (const g of groups) if (!best || g[1].length > best[1].length) best = g;
    if (!best) return { pattern: '', files: [] };
    const [pre, len, post] = best[0].split('\0') as [string, string, string];
    pattern = `${pre}{TR${Number(len) > 1 ? `:0${len}d` : ''}}${post}`;
  }
  const re = patternRegex(pattern);
  const files: SeriesFile[] = [];
  for (const n of names) {
    const m = n.match(re);
    if (m) files.push({ index: Number(m[1]), name: n, path: join(srcDir, n) });
  }
  files.sort((a, b) => a.index - b.index || (a.name < b.name ? -1 : 1));
  return { pattern, files };
}

export interface ReplayDirOptions extends ReplayOptions {
  pattern?: string;
  /** Only indexes >= first. */
  first?: number;
  /** At most this many files. */
  count?: number;
}

/** Replays the series found in `srcDir` (see findSeries) into `destDir`, keeping file names. */
export async function replayDir(srcDir: string, destDir: string, opts: ReplayDirOptions): Promise<ReplayResult & { pattern: string }> {
  if (!(await stat(srcDir)).isDirectory()) throw new RangeError(`not a folder: ${srcDir}`);
  const { pattern, files } = await findSeries(srcDir, opts.pattern);
  let sel = files.filter((f) => f.index >= (opts.first ?? 0));
  if (opts.count !== undefined) sel = sel.slice(0, opts.count);
  const res = await replayFiles(
    sel.map((f) => ({ index: f.index, name: f.name, data: () => readFile(f.path) })),
    destDir,
    opts,
  );
  return { ...res, pattern };
}
