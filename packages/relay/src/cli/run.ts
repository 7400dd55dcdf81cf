// Running one command as a process: the IO (stdout/stderr, Ctrl-C), and the error contract every
// rtfmri command keeps: user mistakes print one line and exit 2, failures one line and exit 1;
// RTFMRI_DEBUG=1 adds stack traces.
import { UsageError } from './args.js';
import type { Command, Io } from './command.js';

export function defaultIo(): Io & { dispose(): void } {
  const ac = new AbortController();
  const stop = () => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return {
    out: (l) => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
    errWrite: (c) => process.stderr.write(c),
    errIsTTY: !!process.stderr.isTTY,
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/**
 * Runs a command (loaded lazily when given as a loader); returns the exit code, never throws.
 * `label` names it in messages ('rtfmri relay', 'rtfmri-relay').
 */
export async function runCommand(cmd: Command | (() => Promise<Command>), argv: string[], io: Io = defaultIo(), label?: string): Promise<number> {
  let name = label ?? (typeof cmd === 'function' ? 'rtfmri' : `rtfmri ${cmd.name}`);
  try {
    const c = typeof cmd === 'function' ? await cmd() : cmd;
    name = label ?? `rtfmri ${c.name}`;
    return await c.run(argv, io);
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError) {
      io.err(`${name}: ${err.message}`);
      io.err(`Run '${name} --help' for usage.`);
      return 2;
    }
    if (process.env.RTFMRI_DEBUG) io.err(String(err?.stack ?? err));
    const code = (err as { code?: unknown })?.code;
    io.err(`${name}: ${err?.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err?.message ?? String(err)}${typeof code === 'string' && !err?.message?.includes(code) ? ` (${code})` : ''}`);
    return 1;
  }
}

/** The version of the package whose package.json is at `url` (e.g. new URL('../package.json', import.meta.url)). */
export async function packageVersion(url: URL): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (JSON.parse(await readFile(url, 'utf8')) as { version: string }).version;
}
