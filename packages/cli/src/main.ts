// The `rtfmri` command line: relay, serve, replay, upload/download, demo. It sits above the
// runtime, the relay and the SDK. User mistakes (bad flags, missing paths) print one line and
// exit 2; failures print one line and exit 1; RTFMRI_DEBUG=1 adds stack traces.
import { defaultIo, packageVersion, runCommand, type Command, type Io } from '@rtfmri/relay/cli';
import { replayCommand } from './replay-cmd.js';

export { defaultIo };

type Loader = { name: string; summary: string; load: () => Promise<Command> };

// Heavier commands are loaded on demand so `rtfmri replay` starts fast.
const commands: Loader[] = [
  { name: 'relay', summary: 'the cloud relay: routes experiment calls to control-room runtimes', load: async () => (await import('@rtfmri/relay/cli')).relayCommand },
  { name: 'token', summary: 'mint a scoped client token or a runtime credential from the site secret', load: async () => (await import('@rtfmri/relay/cli')).tokenCommand },
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
    "Run 'rtfmri COMMAND --help' for a command's options; 'rtfmri --version' for the version.",
  ].join('\n');
}

/** The CLI package's version (`rtfmri --version`). */
export function version(): Promise<string> {
  return packageVersion(new URL('../package.json', import.meta.url));
}

/** Runs one command line; returns the exit code (never throws). */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    io.out(await version());
    return 0;
  }
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
  return runCommand(entry.load, rest, io, `rtfmri ${name}`);
}
