#!/usr/bin/env node
// Entry point of the README's commands on a machine that has only Node + npm:
// installs the pinned pnpm through npx (no global install, no corepack), installs the
// workspace from the lockfile, then runs the given pnpm arguments.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PNPM = 'pnpm@12.4.2';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', NEXT_TELEMETRY_DISABLED: '1' };

function pnpm(args) {
  const r = spawnSync('npx', ['--yes', PNPM, ...args], { cwd: root, stdio: 'inherit', env });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const frozen = existsSync(join(root, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : [];
pnpm(['install', ...frozen]);
pnpm(process.argv.slice(2));
