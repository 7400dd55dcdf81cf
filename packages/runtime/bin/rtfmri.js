#!/usr/bin/env node
// Runs the compiled CLI (build first: `npx turbo run build`).
import { main } from '../dist/cli/main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// A command that has returned is done: do not let a lingering handle keep the process alive.
setTimeout(() => process.exit(code), 1000).unref();
