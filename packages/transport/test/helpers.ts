import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Child processes load dist/: build it when missing or older than src/ (turbo normally has). */
export function ensureDist(): void {
  const out = join(pkgDir, 'dist', 'node.js');
  const srcDir = join(pkgDir, 'src');
  const newest = Math.max(...readdirSync(srcDir).map((f) => statSync(join(srcDir, f)).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs >= newest) return;
  execFileSync(process.execPath, [join(pkgDir, '../../node_modules/typescript/bin/tsc'), '-p', join(pkgDir, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
}

/** Whether this machine lets us make a network namespace (unshare -n). */
export function canUnshare(): boolean {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' });
  return r.status === 0;
}

export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}
