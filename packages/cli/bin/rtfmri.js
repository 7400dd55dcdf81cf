#!/usr/bin/env node
// Runs the compiled CLI (in the repository, build first: `npm run build` at the root).
// A long-running relay or runtime must not end over one promise nobody awaited (Node's default
// for an unhandled rejection): it is logged as the bug it is, and the process keeps serving.
process.on('unhandledRejection', (e) => {
  process.stderr.write(`rtfmri: unhandled rejection (a bug: please report it): ${e?.stack ?? e}\n`);
});
let main;
try {
  ({ main } = await import('../dist/main.js'));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/main.js')) throw e;
  process.stderr.write("rtfmri: not built yet: run 'npm run build' at the repository root first\n");
  process.exit(1);
}
const code = await main(process.argv.slice(2));
process.exitCode = code;
// A command that has returned is done: do not let a lingering handle keep the process alive.
setTimeout(() => process.exit(code), 1000).unref();
