// Bundles the page and the SDK's worker with esbuild (offline, ~0.2 s): dist/{index.html,
// style.css, app.js, worker.js}. Workspace packages are bundled from their TypeScript sources.
import { build } from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const pkgs = join(root, '..', '..', 'packages');
const out = join(root, 'dist');
mkdirSync(out, { recursive: true });

// The browser SDK needs only the relay client from @rtfmri/runtime (no Node-only modules).
const browserRuntime = {
  name: 'rtfmri-browser-runtime',
  setup(b) {
    b.onResolve({ filter: /^@rtfmri\/runtime$/ }, () => ({ path: join(pkgs, 'runtime', 'src', 'relay', 'peer.ts') }));
  },
};

const t0 = performance.now();
await build({
  entryPoints: { app: join(root, 'src', 'app.ts'), worker: join(pkgs, 'sdk', 'src', 'browser', 'worker.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'chrome110',
  conditions: ['source'],
  sourcemap: true,
  minify: process.env.RTFMRI_MINIFY === '1',
  plugins: [browserRuntime],
  logLevel: 'warning',
});
cpSync(join(root, 'src', 'index.html'), join(out, 'index.html'));
cpSync(join(root, 'src', 'style.css'), join(out, 'style.css'));
console.log(`example-browser: built dist/ in ${(performance.now() - t0).toFixed(0)} ms`);
