#!/usr/bin/env node
// The relay on its own (a cloud machine that runs only the relay installs only @rtfmri/relay):
// `rtfmri-relay [options]` is `rtfmri relay [options]`; `rtfmri-relay token ...` is `rtfmri token ...`.
import { packageVersion, relayCommand, runCommand, tokenCommand } from '../dist/cli/index.js';

// A long-running relay or runtime must not end over one promise nobody awaited (Node's default
// for an unhandled rejection): it is logged as the bug it is, and the process keeps serving.
process.on('unhandledRejection', (e) => {
  process.stderr.write(`rtfmri-relay: unhandled rejection (a bug: please report it): ${e?.stack ?? e}\n`);
});
const argv = process.argv.slice(2);
if (argv[0] === '--version' || argv[0] === '-V') {
  console.log(await packageVersion(new URL('../package.json', import.meta.url)));
} else {
  const code = argv[0] === 'token'
    ? await runCommand(tokenCommand, argv.slice(1), undefined, 'rtfmri-relay token')
    : await runCommand(relayCommand, argv, undefined, 'rtfmri-relay');
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}
