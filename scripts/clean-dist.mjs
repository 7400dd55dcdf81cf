#!/usr/bin/env node
// Empties a package's dist/ before its build: tsc never deletes the output of a source file that
// was moved or removed, and a stale file would be packed and published.
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
