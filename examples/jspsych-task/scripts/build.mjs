// Bundles the task page and the SDK's worker with esbuild (offline, ~0.2 s) into dist/:
// index.html, task.js, monitor.html, monitor.js, worker.js, jspsych.css. Workspace packages come from their TypeScript sources.
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(root, 'dist');
const require = createRequire(join(root, 'package.json'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const t0 = performance.now();
await build({
  entryPoints: { task: join(root, 'src', 'task.ts'), monitor: join(root, 'src', 'monitor.ts'), worker: join(root, '..', '..', 'packages', 'sdk', 'src', 'browser', 'worker.ts') },
  bundle: true, format: 'esm', platform: 'browser', target: 'chrome110', conditions: ['source'], sourcemap: true, logLevel: 'warning',
  minify: process.env.RTFMRI_MINIFY !== '0',
  outdir: out,
});
cpSync(join(root, 'src', 'index.html'), join(out, 'index.html'));
cpSync(join(root, 'src', 'monitor.html'), join(out, 'monitor.html'));
cpSync(require.resolve('jspsych/css/jspsych.css'), join(out, 'jspsych.css'));
console.log(`example-jspsych: built dist/ in ${(performance.now() - t0).toFixed(0)} ms`);
