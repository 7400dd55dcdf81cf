// One watcher per folder, shared by every stream and watch on that folder, dispatching events by
// file name. The cost of an event is one Map lookup, whatever the folder holds (a scanner session
// folder holds thousands of files).
//
// Routes:
// - 'native' (default): one `fs.watch(dir)` (inotify on Linux). It reports the file name of every
//   create / write / rename-in, so a waiter for `scan_000012.dcm` is woken by exactly its file.
// - 'polling' (mounted shares, where inotify sees nothing written by another machine): a timer per
//   folder stats only the names some waiter currently expects and wakes a waiter when its file's
//   size or mtime changes. It never lists the folder: flat in folder size.
// Chokidar is not used for either, by measurement (bench/index.ts, 10,000 files in the folder):
// with its defaults it re-reads the folder on events and watches every file (68-180 ms p50, ~87 ms
// of CPU per new file); with `usePolling`, `depth: 0` and an `ignored` filter it still re-reads and
// filters all entries on every change of the folder (~91 ms of CPU per new file); and asked to poll
// a path that does not exist yet it watches and reads the parent folder instead.
// Both routes are backed by each waiter's own slow safety poll, so a lost event delays an image by
// at most that interval and never loses it.
import fs from 'node:fs';
import path from 'node:path';

export type WatchRoute = 'auto' | 'native' | 'polling';

// statfs f_type of network and FUSE file systems: inotify sees nothing another machine writes there.
const NETWORK_FS = new Set([
  0x6969, // NFS
  0x517b, // SMB
  0xff534d42, // CIFS
  0xfe534d42, // SMB2
  0x65735546, // FUSE (sshfs, ...)
  0x01021997, // 9p (VM shares)
  0x564c, // NCP
  0x5346414f, // AFS
]);

/** 'polling' for a folder on a network or FUSE mount, else 'native'. */
export function routeFor(dir: string): 'native' | 'polling' {
  try {
    const type = Number(fs.statfsSync(dir).type) >>> 0;
    return NETWORK_FS.has(type) ? 'polling' : 'native';
  } catch {
    return 'native';
  }
}
export type Listener = () => void;

interface Folder {
  dir: string;
  refs: number;
  byName: Map<string, Set<Listener>>;
  native?: fs.FSWatcher;
  /** Polling route: the timer and the last size/mtime signature seen per expected name. */
  poll?: NodeJS.Timeout;
  seen?: Map<string, string>;
  /** The folder does not exist yet (stream set up before the scan): retry until it does. */
  retry?: NodeJS.Timeout;
}

export interface WatchHubOptions {
  /** 'auto' (default): native events, polling on network/FUSE mounts. */
  route?: WatchRoute;
  /** Polling interval of the polling route, ms. */
  pollIntervalMs?: number;
  /**
   * Checked whenever a folder's watcher is (re)started: false (e.g. a folder on the path was swapped
   * for a symlink since the stream was set up) and the folder is treated as absent until it passes
   * again. Events only wake waiters; what they read is checked on its own open descriptor.
   */
  verifyDir?: (dir: string) => boolean;
}

export class WatchHub {
  private readonly folders = new Map<string, Folder>();
  readonly route: WatchRoute;
  private readonly pollIntervalMs: number;
  private readonly verifyDir: (dir: string) => boolean;

  constructor(opts: WatchHubOptions = {}) {
    this.route = opts.route ?? 'auto';
    this.pollIntervalMs = opts.pollIntervalMs ?? 100;
    this.verifyDir = opts.verifyDir ?? (() => true);
  }

  private usable(dir: string): boolean {
    return fs.existsSync(dir) && this.verifyDir(dir);
  }

  /** Starts (or shares) the watcher of a real, existing folder. Returns a release function. */
  acquire(dir: string): () => void {
    let f = this.folders.get(dir);
    if (!f) {
      f = { dir, refs: 0, byName: new Map() };
      this.start(f);
      this.folders.set(dir, f);
    }
    f.refs++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const g = this.folders.get(dir);
      if (!g || --g.refs > 0) return;
      this.stop(g);
      this.folders.delete(dir);
    };
  }

  /** Calls `fn` on every event for `name` in `dir` (the folder must be acquired). */
  on(dir: string, name: string, fn: Listener): () => void {
    const f = this.folders.get(dir);
    if (!f) throw new Error(`folder not watched: ${dir}`);
    let set = f.byName.get(name);
    if (!set) f.byName.set(name, (set = new Set()));
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0 && f.byName.get(name) === set) {
        f.byName.delete(name);
        f.seen?.delete(name);
      }
    };
  }

  private dispatch(f: Folder, name: string): void {
    const set = f.byName.get(name);
    if (set) for (const fn of [...set]) fn();
  }

  private start(f: Folder): void {
    if (!this.usable(f.dir)) {
      // Waiters still poll their own file meanwhile; once the folder appears (and passes the
      // check), events take over.
      f.retry = setInterval(() => {
        if (!this.usable(f.dir)) return;
        clearInterval(f.retry);
        f.retry = undefined;
        this.start(f);
        for (const n of [...f.byName.keys()]) this.dispatch(f, n);
      }, this.pollIntervalMs);
      f.retry.unref();
      return;
    }
    const route = this.route === 'auto' ? routeFor(f.dir) : this.route;
    if (route === 'native') {
      try {
        f.native = fs.watch(f.dir, { persistent: false }, (_ev, filename) => {
          // No name (rare, some platforms): wake every waiter of the folder; each re-checks its file.
          if (filename == null) { for (const n of [...f.byName.keys()]) this.dispatch(f, n); return; }
          this.dispatch(f, typeof filename === 'string' ? filename : String(filename));
        });
        if (!this.verifyDir(f.dir)) {
          // Swapped between the check and the watch: watch again once it passes.
          f.native.close();
          f.native = undefined;
          this.start(f);
          return;
        }
        f.native.on('error', () => {
          // The folder vanished or the watch broke: fall back to polling for this folder.
          f.native?.close();
          f.native = undefined;
          this.startPolling(f);
        });
        return;
      } catch {
        // fs.watch unsupported here: polling route.
      }
    }
    this.startPolling(f);
  }

  private startPolling(f: Folder): void {
    f.seen = new Map();
    f.poll = setInterval(() => {
      for (const name of [...f.byName.keys()]) {
        let sig = 'missing';
        try {
          const st = fs.statSync(path.join(f.dir, name), { throwIfNoEntry: false });
          if (st) sig = `${st.size}:${st.mtimeMs}`;
        } catch {
          // unreadable: treated as missing
        }
        // A name seen for the first time wakes its waiter if the file exists (it may have appeared
        // between the waiter's own look and this poll).
        if (f.seen!.get(name) === sig) continue;
        f.seen!.set(name, sig);
        if (sig !== 'missing') this.dispatch(f, name);
      }
    }, this.pollIntervalMs);
    f.poll.unref();
  }

  private stop(f: Folder): void {
    if (f.retry) clearInterval(f.retry);
    if (f.poll) clearInterval(f.poll);
    f.native?.close();
  }

  closeAll(): void {
    for (const f of this.folders.values()) this.stop(f);
    this.folders.clear();
  }

  /** Number of folders currently watched (for tests and diagnostics). */
  get size(): number { return this.folders.size; }
}
