import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { str, UsageError, type Parsed } from './args.js';

/** Timestamped log line (ISO time, ms). */
export function stamp(line: string): string {
  return `${new Date().toISOString()} ${line}`;
}

export function checkUrl(url: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${flag} must be a ws:// or wss:// URL, got '${url}'`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new UsageError(`${flag} must be a ws:// or wss:// URL, got '${url}'`);
  return url;
}

/**
 * A secret from `--token-file FILE` (first line; refused when others may read it), the
 * RTFMRI_TOKEN environment variable, or `--token` (visible to every user in `ps`: a warning is
 * printed, and it is never the only way).
 */
export async function tokenFrom(p: Parsed, warn: (line: string) => void, what = 'a token'): Promise<string> {
  const file = str(p, 'token-file');
  const argv = str(p, 'token');
  if (file && argv) throw new UsageError('give --token-file or --token, not both');
  if (file) return readSecretFile(file, '--token-file');
  if (argv) {
    warn('warning: --token on the command line is visible to other users of this machine (ps); use --token-file FILE (mode 600) or the RTFMRI_TOKEN environment variable');
    return argv;
  }
  const env = process.env.RTFMRI_TOKEN;
  if (env) return env;
  throw new UsageError(`${what} is required: --token-file FILE, or the RTFMRI_TOKEN environment variable`);
}

/** The first line of a secret file that only its owner can read. */
export async function readSecretFile(path: string, flag: string): Promise<string> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`${flag}: cannot read ${path} (${e.code ?? e.message})`);
  });
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new UsageError(`${flag}: ${path} can be read by other users (mode ${(st.mode & 0o777).toString(8)}): run 'chmod 600 ${path}'`);
  }
  const text = (await readTextFile(path, flag)).split(/\r?\n/)[0]!.trim();
  if (!text) throw new UsageError(`${flag}: ${path} is empty`);
  return text;
}

/** The options every command that takes a secret accepts. */
export const TOKEN_OPTIONS = { token: { type: 'string' }, 'token-file': { type: 'string' } } as const;

export async function existingDirs(dirs: string[], flag: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    if (d === '*') {
      out.push(d);
      continue;
    }
    const abs = resolve(d);
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new UsageError(`${flag}: folder not found: ${d}`);
    if (!st.isDirectory()) throw new UsageError(`${flag}: not a folder: ${d}`);
    out.push(abs);
  }
  return out;
}

export async function readTextFile(path: string, flag: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Resolves when the signal aborts (Ctrl-C / SIGTERM). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}
