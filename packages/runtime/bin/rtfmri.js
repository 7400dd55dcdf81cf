#!/usr/bin/env node
// Runs the compiled CLI (build first: `npx turbo run build`).
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/cli/main.js')) throw e;
  process.stderr.write("rtfmri: not built yet: run 'npx turbo run build' (or 'npm run build') at the repository root first\n");
  process.exit(1);
}
const code = await main(process.argv.slice(2));
process.exitCode = code;
// A command that has returned is done: do not let a lingering handle keep the process alive.
setTimeout(() => process.exit(code), 1000).unref();
