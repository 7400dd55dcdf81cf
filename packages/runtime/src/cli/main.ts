// The `rtfmri` command line. User mistakes (bad flags, missing paths) print one line and exit 2;
// failures print one line and exit 1; RTFMRI_DEBUG=1 adds stack traces.
import { UsageError } from './args.js';
import type { Command, Io } from './command.js';
import { replayCommand } from './replay-cmd.js';

type Loader = { name: string; summary: string; load: () => Promise<Command> };

// Heavier commands are loaded on demand so `rtfmri replay` starts fast.
const commands: Loader[] = [
  { name: 'relay', summary: 'the cloud relay: routes experiment calls to control-room runtimes', load: async () => (await import('./relay-cmd.js')).relayCommand },
  { name: 'serve', summary: 'the control-room runtime: dials out to a relay (or listens on a LAN)', load: async () => (await import('./serve-cmd.js')).serveCommand },
  { name: 'replay', summary: replayCommand.summary, load: async () => replayCommand },
  { name: 'upload', summary: 'copy files from a runtime to this machine (with progress)', load: async () => (await import('./transfer-cmd.js')).uploadCommand },
  { name: 'download', summary: 'copy files from this machine to a runtime (with progress)', load: async () => (await import('./transfer-cmd.js')).downloadCommand },
  { name: 'demo', summary: 'relay + runtime + replayed EPI run + neurofeedback example, one command', load: async () => (await import('./demo-cmd.js')).demoCommand },
];

export function globalHelp(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: rtfmri COMMAND [options]',
    '',
    'Real-time fMRI data access: control-room runtime, cloud relay and tools.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    "Run 'rtfmri COMMAND --help' for a command's options.",
  ].join('\n');
}

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

/** Runs one command line; returns the exit code (never throws). */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0]) return main([rest[0], '--help'], io);
    (name ? io.out : io.err)(globalHelp());
    return name ? 0 : 2;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    io.err(`rtfmri: unknown command '${name}'. Commands: ${commands.map((c) => c.name).join(', ')}`);
    return 2;
  }
  let cmd: Command | undefined;
  try {
    cmd = await entry.load();
    return await cmd.run(rest, io);
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError) {
      io.err(`rtfmri ${name}: ${err.message}`);
      io.err(`Run 'rtfmri ${name} --help' for usage.`);
      return 2;
    }
    if (process.env.RTFMRI_DEBUG) io.err(String(err?.stack ?? err));
    const code = (err as { code?: unknown })?.code;
    io.err(`rtfmri ${name}: ${err?.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err?.message ?? String(err)}${typeof code === 'string' && !err?.message?.includes(code) ? ` (${code})` : ''}`);
    return 1;
  }
}
