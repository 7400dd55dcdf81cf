import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from './args.js';

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

export function tokenFrom(value: string | undefined, flag = '--token'): string {
  const t = value ?? process.env.RTFMRI_TOKEN;
  if (!t) throw new UsageError(`a token is required: ${flag} TOKEN or the RTFMRI_TOKEN environment variable`);
  return t;
}

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
