#!/usr/bin/env node
// The relay on its own (a cloud machine that runs only the relay installs only @rtfmri/relay):
// `rtfmri-relay [options]` is `rtfmri relay [options]`.
import { packageVersion, relayCommand, runCommand } from '../dist/cli/index.js';

const argv = process.argv.slice(2);
if (argv[0] === '--version' || argv[0] === '-V') {
  console.log(await packageVersion(new URL('../package.json', import.meta.url)));
} else {
  const code = await runCommand(relayCommand, argv, undefined, 'rtfmri-relay');
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}
