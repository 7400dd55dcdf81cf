// Bundles the page and the SDK's worker with esbuild (offline, ~0.5 s): dist/{index.html,
// style.css, app.js, worker.js, chunks/}. Workspace packages are bundled from their TypeScript
// sources. Minified by default (RTFMRI_MINIFY=0 for readable output) and split into chunks: the
// page thread loads no DICOM code; the worker loads the DICOM reader (dicom-wasm's walker and
// dictionaries) on its first volume, the codecs on the first compressed one, the page the mask
// reader only when a mask is given. Prints what a page loads, and fails over the page budget.
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAGE_BUDGET_GZIP, describe, dicomReaderSources, dicomSources, dynamicChunks, outputOf, sizeOf, sourcesOf, staticClosure } from './build-size.mjs';

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
const minify = process.env.RTFMRI_MINIFY !== '0';
const browserEsm = {
  bundle: true, format: 'esm', platform: 'browser', target: 'chrome110', conditions: ['source'], sourcemap: true, logLevel: 'warning',
  minify, keepNames: true, splitting: true, metafile: true, absWorkingDir: root,
};

const t0 = performance.now();
const page = await build({
  ...browserEsm,
  entryPoints: { app: join(root, 'src', 'app.ts'), worker: join(root, 'src', 'worker.ts') },
  chunkNames: 'chunks/[name]-[hash]',
  // Emscripten glue mentions Node modules on paths a browser never takes.
  external: ['fs', 'path', 'crypto', 'module', 'url', 'worker_threads', 'perf_hooks', 'ws'],
  outdir: out,
  plugins: [cornerstoneDecoders],
});
// The SDK's browser build on its own (ESM) for any page without a bundler, e.g. a jsPsych
// experiment: import { DataInterface } from './sdk/rtfmri-sdk.js' (its worker is sdk/worker.js,
// found beside it). rtfmri-sdk.js is the SDK without rt-cloud's helpers and NIfTI (every export
// of a standalone entry is kept, so those would weigh on every page): they are in
// rtfmri-helpers.js. Chunks sit beside the entries (flat names).
const sdk = await build({
  ...browserEsm,
  entryPoints: {
    'rtfmri-sdk': join(pkgs, 'sdk', 'src', 'browser', 'core.ts'),
    'rtfmri-helpers': join(pkgs, 'sdk', 'src', 'rtcloud', 'index.ts'),
    worker: join(pkgs, 'sdk', 'src', 'browser', 'worker.ts'),
  },
  outdir: join(out, 'sdk'),
});
cpSync(join(root, 'src', 'index.html'), join(out, 'index.html'));
cpSync(join(root, 'src', 'minimal.html'), join(out, 'minimal.html'));
cpSync(join(root, 'src', 'style.css'), join(out, 'style.css'));
console.log(`example-browser: built dist/ in ${(performance.now() - t0).toFixed(0)} ms${minify ? '' : ' (not minified)'}`);

// What a page loads for an uncompressed-DICOM session: its entry and the worker with their static
// chunks, then on the first volume the worker's DICOM reader and frame code (dynamic chunks).
// Not counted: the codecs (compressed volumes only) and the mask reader (a mask given).
const firstVolume = /dicom-wasm\/src\/entry\/parse\.ts$|sdk\/src\/browser\/frame\.ts$/;
function session(label, metafile, pageName, noDicom) {
  const pageFiles = staticClosure(metafile, [outputOf(metafile, pageName)]);
  const workerFiles = staticClosure(metafile, [outputOf(metafile, 'worker')]);
  const all = new Set([...pageFiles, ...workerFiles, ...dynamicChunks(metafile, [outputOf(metafile, 'worker')], firstVolume)]);
  const s = sizeOf(all, root);
  // The experimenter's page takes the demo's ROI box from dicom-wasm/synthetic (a few lines): it may
  // load small pieces of dicom-wasm, never the reader; the SDK's standalone page entry none at all.
  const onPage = (noDicom ? dicomSources : dicomReaderSources)(sourcesOf(metafile, pageFiles));
  console.log(`example-browser: ${label}: page ${describe(sizeOf(pageFiles, root))}; with the worker and its chunks on the first volume ${describe(s)}`);
  return { s, onPage };
}
const problems = [];
for (const [label, metafile, pageName, noDicom] of [['index.html (app.js)', page.metafile, 'app', false], ['minimal.html (sdk/rtfmri-sdk.js)', sdk.metafile, 'rtfmri-sdk', true]]) {
  const { s, onPage } = session(label, metafile, pageName, noDicom);
  if (minify && s.gzip > PAGE_BUDGET_GZIP) problems.push(`${label}: ${s.gzip} B gzip over the page budget of ${PAGE_BUDGET_GZIP} B`);
  if (onPage.length) problems.push(`${label}: the page thread loads DICOM code at start: ${onPage.join(', ')}`);
}
if (problems.length) {
  console.error(`example-browser: ${problems.join('\n')}`);
  process.exit(1);
}
