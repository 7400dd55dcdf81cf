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
import { execFileSync } from 'node:child_process';

export type WatchRoute = 'auto' | 'native' | 'polling';

// statfs f_type of network and FUSE file systems (Linux): inotify sees nothing another machine writes there.
const NETWORK_FS = new Map<number, string>([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuse'], // sshfs, rclone, ... (and fuseblk)
  [0x01021997, '9p'], // VM shares
  [0x564c, 'ncp'],
  [0x5346414f, 'afs'],
  [0x00c36400, 'ceph'],
  [0x0bd00bd0, 'lustre'],
  [0x47504653, 'gpfs'],
  [0x73757245, 'coda'],
]);

/** /proc/mounts and macOS `mount` file-system type names of network and FUSE file systems. */
const NETWORK_FS_NAMES = /^(nfs4?|cifs|smb3?|smbfs|afpfs|webdav|davfs2?|ftp|ncpfs|afs|9p|ceph|glusterfs|lustre|gpfs|beegfs|coda|sshfs|osxfuse|macfuse|fuse(\..*)?|fuseblk)$/;

export interface ShareInfo {
  /** On a network (or FUSE) file system: events from other machines are not seen, locks are the server's. */
  network: boolean;
  /** How it was decided, for logs and tests: 'statfs 0xff534d42 (cifs)', 'mount smbfs on /Volumes/x', 'UNC path', ... */
  how: string;
}

export interface ShareProbe {
  platform?: NodeJS.Platform;
  /** statfs type (Linux). */
  statfsType?: (dir: string) => number;
  /** The mount table: /proc/mounts (Linux) or `mount` output (macOS). */
  mounts?: () => string;
  /** Windows: the DriveType of a drive letter ('Z:'), 4 = network (DRIVE_REMOTE). */
  driveType?: (drive: string) => number | undefined;
}

/** The longest mount point of `mounts` that holds `dir`, and its type. Lines: /proc/mounts or macOS `mount`. */
export function mountOf(dir: string, mounts: string, platform: NodeJS.Platform): { point: string; type: string; source: string } | undefined {
  let best: { point: string; type: string; source: string } | undefined;
  for (const line of mounts.split('\n')) {
    let m: { point: string; type: string; source: string } | undefined;
    if (platform === 'darwin') {
      // //user@server/share on /Volumes/share (smbfs, nodev, nosuid, mounted by user)
      const r = /^(.*) on (.*) \(([^,)]+)/.exec(line);
      if (r) m = { source: r[1], point: r[2], type: r[3].trim() };
    } else {
      // server:/export /mnt/scan nfs4 rw,relatime 0 0 (spaces in paths are written \040)
      const f = line.split(' ');
      if (f.length >= 3) {
        const unescape = (x: string) => x.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
        m = { source: unescape(f[0]), point: unescape(f[1]), type: f[2] };
      }
    }
    if (!m) continue;
    const inside = m.point === '/' || dir === m.point || dir.startsWith(m.point.endsWith('/') ? m.point : `${m.point}/`);
    if (inside && (!best || m.point.length > best.point.length)) best = m;
  }
  return best;
}

function defaultMounts(platform: NodeJS.Platform): string {
  if (platform === 'linux') return fs.readFileSync('/proc/mounts', 'utf8');
  if (platform === 'darwin') return execFileSync('/sbin/mount', [], { encoding: 'utf8', timeout: 5000 });
  return '';
}

function defaultDriveType(drive: string): number | undefined {
  // Win32_LogicalDisk.DriveType: 4 = network drive (a mapped share), 3 = local disk.
  const out = execFileSync('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', `(Get-CimInstance Win32_LogicalDisk -Filter "DeviceID='${drive}'").DriveType`], { encoding: 'utf8', timeout: 10_000, windowsHide: true });
  const n = Number(out.trim());
  return Number.isInteger(n) ? n : undefined;
}

/**
 * Is `dir` on a network share? Per platform:
 * - Linux: statfs f_type (NFS, SMB/CIFS, FUSE, 9p, ...), else the longest mount point of /proc/mounts.
 * - macOS: the file-system type of the longest mount point in `mount`'s output (smbfs, nfs,
 *   afpfs, webdav, macfuse, ...): macOS's statfs f_type numbers are not stable, its f_fstypename is
 *   what `mount` prints.
 * - Windows: a UNC path (\\server\share, \\?\UNC\...) is a share; a drive letter is one when
 *   Win32_LogicalDisk says DriveType 4 (a mapped network drive).
 * Anything that cannot be decided counts as local (native events; the waiters' own safety poll
 * still finds files).
 */
export function shareInfo(dir: string, probe: ShareProbe = {}): ShareInfo {
  const platform = probe.platform ?? process.platform;
  try {
    if (platform === 'win32') {
      if (/^[\\/]{2}\?[\\/]UNC[\\/]/i.test(dir) || /^[\\/]{2}[^\\/?.]/.test(dir)) return { network: true, how: 'UNC path' };
      const drive = /^([A-Za-z]:)/.exec(dir)?.[1]?.toUpperCase();
      if (!drive) return { network: false, how: 'no drive letter' };
      const t = (probe.driveType ?? cachedDriveType)(drive);
      return { network: t === 4, how: `${drive} DriveType ${t ?? 'unknown'}` };
    }
    if (platform === 'linux') {
      try {
        const type = (probe.statfsType ?? ((d: string) => Number(fs.statfsSync(d).type)))(dir) >>> 0;
        const name = NETWORK_FS.get(type);
        if (name) return { network: true, how: `statfs 0x${type.toString(16)} (${name})` };
        if (!probe.mounts) return { network: false, how: `statfs 0x${type.toString(16)}` };
      } catch {
        // statfs failed (the folder is not there yet, ...): the mount table decides
      }
    }
    const m = mountOf(dir, (probe.mounts ?? (() => defaultMounts(platform)))(), platform);
    if (!m) return { network: false, how: 'no mount found' };
    return { network: NETWORK_FS_NAMES.test(m.type), how: `mount ${m.type} on ${m.point}` };
  } catch {
    return { network: false, how: 'undecided' };
  }
}

const driveTypes = new Map<string, { t: number | undefined; at: number }>();
function cachedDriveType(drive: string): number | undefined {
  const c = driveTypes.get(drive);
  if (c && Date.now() - c.at < 60_000) return c.t;
  let t: number | undefined;
  try { t = defaultDriveType(drive); } catch { t = undefined; }
  driveTypes.set(drive, { t, at: Date.now() });
  return t;
}

/** 'polling' for a folder on a network or FUSE mount, else 'native'. */
export function routeFor(dir: string): 'native' | 'polling' {
  return shareInfo(dir).network ? 'polling' : 'native';
}

/**
 * Whether an error opening or reading a file means its writer still holds it, so it is waited for
 * like a file being written rather than failing the call: EBUSY (Windows' sharing violation, a
 * CIFS lock), ETXTBSY, EAGAIN/EWOULDBLOCK (a lease, e.g. Samba's kernel oplocks, refusing our
 * non-blocking open) always; EPERM and EACCES on Windows (libuv's code for a file another process
 * opened without sharing, or one pending delete) and on network shares (how SMB servers report a
 * lock), but not on a local Unix disk, where they mean the permissions really refuse us.
 */
export function lockedByWriter(code: string | undefined, ctx: { platform?: NodeJS.Platform; onShare?: () => boolean } = {}): boolean {
  if (code === 'EBUSY' || code === 'ETXTBSY' || code === 'EAGAIN' || code === 'EWOULDBLOCK') return true;
  if (code === 'EPERM' || code === 'EACCES') {
    if ((ctx.platform ?? process.platform) === 'win32') return true;
    return ctx.onShare?.() ?? false;
  }
  return false;
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
