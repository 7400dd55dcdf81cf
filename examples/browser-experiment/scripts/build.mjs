// Bundles the page and the SDK's worker with esbuild (offline, ~0.2 s): dist/{index.html,
// style.css, app.js, worker.js}. Workspace packages are bundled from their TypeScript sources.
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const pkgs = join(root, '..', '..', 'packages');
const out = join(root, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'codecs'), { recursive: true });

// @cornerstonejs/dicom-image-loader's decoder modules (not in its exports map) and the codecs' .wasm.
const require = createRequire(join(root, 'package.json'));
const loaderDir = dirname(require.resolve('@cornerstonejs/dicom-image-loader'));
const decodersDir = join(loaderDir, 'shared', 'decoders');
const codecs = {
  'charlswasm_decode.wasm': '@cornerstonejs/codec-charls/decodewasm',
  'openjpegwasm_decode.wasm': '@cornerstonejs/codec-openjpeg/decodewasm',
  'libjpegturbowasm_decode.wasm': '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm',
  'openjphjs.wasm': '@cornerstonejs/codec-openjph/wasm',
};
for (const [name, spec] of Object.entries(codecs)) cpSync(require.resolve(spec), join(out, 'codecs', name));
const cornerstoneDecoders = {
  name: 'cornerstone-decoders',
  setup(b) {
    b.onResolve({ filter: /^cornerstone-decoders\// }, (a) => ({ path: join(decodersDir, a.path.slice('cornerstone-decoders/'.length)) }));
  },
};

// What the page bundle and the standalone SDK bundle share.
const browserEsm = { bundle: true, format: 'esm', platform: 'browser', target: 'chrome110', conditions: ['source'], sourcemap: true, logLevel: 'warning' };

const t0 = performance.now();
await build({
  ...browserEsm,
  entryPoints: { app: join(root, 'src', 'app.ts'), worker: join(root, 'src', 'worker.ts') },
  // The codecs load on the first compressed volume only (a separate chunk).
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  // Emscripten glue mentions Node modules on paths a browser never takes.
  external: ['fs', 'path', 'crypto', 'module', 'url', 'worker_threads', 'perf_hooks', 'ws'],
  outdir: out,
  minify: process.env.RTFMRI_MINIFY === '1',
  plugins: [cornerstoneDecoders],
});
// The SDK's browser build on its own (ESM, dicom-wasm included) for any page, e.g. a jsPsych
// experiment: import { DataInterface } from './sdk/rtfmri-sdk.js' (its worker is sdk/worker.js).
await build({
  ...browserEsm,
  entryPoints: { 'rtfmri-sdk': join(pkgs, 'sdk', 'src', 'browser', 'index.ts'), worker: join(pkgs, 'sdk', 'src', 'browser', 'worker.ts') },
  outdir: join(out, 'sdk'),
});
cpSync(join(root, 'src', 'index.html'), join(out, 'index.html'));
cpSync(join(root, 'src', 'minimal.html'), join(out, 'minimal.html'));
cpSync(join(root, 'src', 'style.css'), join(out, 'style.css'));
console.log(`example-browser: built dist/ in ${(performance.now() - t0).toFixed(0)} ms`);
