import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { bool, checkUrl, parse, readTextFile, str, TOKEN_OPTIONS, tokenFrom, UsageError, type Command, type Io } from '@rtfmri/relay/cli';
import {
  DataInterface,
  downloadFilesFromCloud,
  downloadFolderFromCloud,
  uploadFilesToCloud,
  uploadFolderToCloud,
  type TransferProgress,
} from '@rtfmri/sdk';

const common = `Connection:
  --url URL          the relay (or a runtime started with --listen): ws://host:port or wss://host:port
  --name NAME        the runtime to reach (default scanner1)
  --token-file FILE  this client's token ('rtfmri token client'; mode 600), or env RTFMRI_TOKEN
  --token TOKEN      the same on the command line (visible in ps: prefer --token-file)
  --client-id ID     who this client is, for the relay's tokens file (default cli)
  --ca FILE          trust this CA for wss:// (self-signed relay certificate)
  --quiet            no progress bar
  -h, --help         this help`;

const uploadHelp = `Usage: rtfmri upload --url URL --name RUNTIME SRC OUTPUT_DIR

Copies files from the control-room runtime to this machine (rt-cloud's naming: "upload" goes to
the cloud). SRC is a folder on the runtime (copied with its last path component, recursively) or a
file pattern there (e.g. '/scans/run1/*.dcm', '**' allowed; files land flat in OUTPUT_DIR).

${common}`;

const downloadHelp = `Usage: rtfmri download --url URL --name RUNTIME SRC OUTPUT_DIR [--delete-after]

Copies files from this machine to the control-room runtime. SRC is a local folder (copied with
its last path component; only the runtime's allowed file types) or a local file pattern (files
land flat in OUTPUT_DIR on the runtime).

Options:
  --delete-after     delete the local files that were copied (never folders)

${common}`;

const OPTIONS = {
  url: { type: 'string' },
  name: { type: 'string' },
  ...TOKEN_OPTIONS,
  'client-id': { type: 'string' },
  ca: { type: 'string' },
  quiet: { type: 'boolean' },
  'delete-after': { type: 'boolean' },
} as const;

/** The runtime's files through a relay, as the SDK reaches them (what the helpers need). */
async function remoteFiles(url: string, name: string, token: string, clientId: string, ca?: string): Promise<DataInterface> {
  const di = new DataInterface({ dataRemote: true, url, token, name, clientId, callTimeoutMs: 10 * 60_000, ws: ca ? { ca } : undefined });
  try {
    await di.waitForRuntime(10);
  } catch (e) {
    await di.close();
    throw e;
  }
  return di;
}

/** One line redrawn on a terminal; a line per 10% on a log. */
export function progressBar(io: Io, verb: string): { update(p: TransferProgress): void; done(): void } {
  const t0 = performance.now();
  let bytes = 0;
  let lastDecile = -1;
  let drawn = false;
  return {
    update(p) {
      bytes += p.bytes;
      const frac = p.total ? p.done / p.total : 1;
      const mib = bytes / 1048576;
      const rate = mib / Math.max(1e-3, (performance.now() - t0) / 1000);
      const w = 24;
      const filled = Math.round(frac * w);
      const line = `${verb} [${'#'.repeat(filled)}${'.'.repeat(w - filled)}] ${p.done}/${p.total} files ${mib.toFixed(1)} MiB ${rate.toFixed(1)} MiB/s`;
      if (io.errIsTTY) {
        io.errWrite(`\r${line}\x1b[K`);
        drawn = true;
      } else {
        const decile = Math.floor(frac * 10);
        if (decile !== lastDecile) {
          lastDecile = decile;
          io.err(line);
        }
      }
    },
    done() {
      if (drawn) io.errWrite('\n');
    },
  };
}

function make(kind: 'upload' | 'download'): Command {
  const help = kind === 'upload' ? uploadHelp : downloadHelp;
  return {
    name: kind,
    summary: kind === 'upload' ? 'copy files from a runtime to this machine (with progress)' : 'copy files from this machine to a runtime (with progress)',
    help,
    async run(argv, io) {
      const p = parse(argv, OPTIONS, { min: 2, max: 2 });
      if (p.values.help) return io.out(help), 0;
      const url = str(p, 'url');
      if (!url) throw new UsageError('--url is required (the relay, ws://host:port)');
      checkUrl(url, '--url');
      if (kind === 'upload' && bool(p, 'delete-after')) throw new UsageError('--delete-after is for download (files on this machine)');
      const token = await tokenFrom(p, io.err, 'a client token');
      const [src, out] = p.positionals as [string, string];
      const ca = str(p, 'ca') ? await readTextFile(str(p, 'ca')!, '--ca') : undefined;
      let isDir: boolean;
      let srcPath = src;
      if (kind === 'download') {
        srcPath = resolve(src);
        const st = await stat(srcPath).catch(() => undefined);
        isDir = !!st?.isDirectory();
        if (!isDir && !/[*?[]/.test(src)) throw new UsageError(st ? `not a folder or a file pattern: ${src}` : `local folder not found: ${src}`);
      } else {
        if (!src.startsWith('/')) throw new UsageError(`SRC must be an absolute path on the runtime, got '${src}'`);
        isDir = !/[*?[]/.test(src);
      }
      const di = await remoteFiles(url, str(p, 'name') ?? 'scanner1', token, str(p, 'client-id') ?? 'cli', ca);
      const bar = bool(p, 'quiet') ? undefined : progressBar(io, kind === 'upload' ? 'uploading' : 'downloading');
      const onProgress = bar ? (x: TransferProgress) => bar.update(x) : undefined;
      try {
        const files =
          kind === 'upload'
            ? isDir
              ? await uploadFolderToCloud(di, srcPath, resolve(out), onProgress)
              : await uploadFilesToCloud(di, srcPath, resolve(out), onProgress)
            : isDir
              ? await downloadFolderFromCloud(di, srcPath, out, bool(p, 'delete-after'), onProgress)
              : await downloadFilesFromCloud(di, srcPath, out, bool(p, 'delete-after'), onProgress);
        io.out(`${kind === 'upload' ? 'uploaded' : 'downloaded'} ${files.length} file(s) to ${kind === 'upload' ? resolve(out) : `${out} on runtime '${str(p, 'name') ?? 'scanner1'}'`}`);
        return 0;
      } finally {
        bar?.done();
        await di.close();
      }
    },
  };
}

export const uploadCommand = make('upload');
export const downloadCommand = make('download');
