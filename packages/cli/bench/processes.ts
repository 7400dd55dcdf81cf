// The benchmarks' child processes (relay, `rtfmri serve`, experiment scripts): spawned with the
// site token in the environment, their output kept so a caller can wait for a line.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

export interface Spawned {
  child: ChildProcess;
  /** Resolves with the first match of `re` in the output so far or to come; rejects after `timeoutMs` or when the process ends first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The output so far (the last 512 KiB-1 MiB of a long run). */
  text(): string;
}

/** `node [nodeArgs] script ...args` with RTFMRI_TOKEN = token; `logFile` gets a copy of the output. */
export function spawnScript(script: string, args: string[], opts: { token: string; nodeArgs?: string[]; logFile?: string }): Spawned {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), script, ...args], { env: { ...process.env, RTFMRI_TOKEN: opts.token }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let exited: number | null | undefined;
  const waiters: Array<{ re: RegExp; res: (m: RegExpMatchArray) => void; rej: (e: Error) => void }> = [];
  const log = opts.logFile ? fs.createWriteStream(opts.logFile) : null;
  const on = (b: Buffer) => {
    log?.write(b);
    text += b.toString();
    if (text.length > 1 << 20) text = text.slice(-(1 << 19));
    for (const w of [...waiters]) {
      const m = text.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.res(m);
      }
    }
  };
  child.stdout!.on('data', on);
  child.stderr!.on('data', on);
  child.on('exit', (code) => {
    exited = code;
    for (const w of waiters.splice(0)) w.rej(new Error(`${[script, ...args].join(' ')} exited ${code} before ${w.re}:\n${text}`));
  });
  return {
    child,
    text: () => text,
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise((res, rej) => {
        const m = text.match(re);
        if (m) return res(m);
        if (exited !== undefined) return rej(new Error(`${[script, ...args].join(' ')} exited ${exited} before ${re}:\n${text}`));
        waiters.push({ re, res, rej });
        setTimeout(() => rej(new Error(`timeout waiting for ${re} in:\n${text}`)), timeoutMs).unref();
      }),
  };
}
