// @rtfmri/relay/cli: the `relay` command, and the small argument/IO kit every rtfmri command uses
// (the `rtfmri` CLI package builds its other commands on it).
export * from './args.js';
export * from './command.js';
export * from './common.js';
export { defaultIo, runCommand, packageVersion } from './run.js';
export { relayCommand } from './relay-cmd.js';
export { tokenCommand } from './token-cmd.js';
