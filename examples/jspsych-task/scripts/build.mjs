// Bundles the task page, the experimenter's monitor and the SDK's worker with esbuild (offline,
// ~0.4 s) into dist/: index.html, task.js, monitor.html, monitor.js, worker.js, chunk-*.js,
// jspsych.css. Workspace packages come from their TypeScript sources. Minified by default
// (RTFMRI_MINIFY=0 for readable output), split into chunks the pages share (flat names: the SDK
// finds its worker beside the module that creates it).
//
// Build check: both pages use the feedback channel only, so neither they nor their worker may load
// any dicom-wasm code (it is in chunks a DICOM stream would load, which these pages never fetch).
// The build fails otherwise, and prints what each page loads.
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, dicomSources, outputOf, sizeOf, sourcesOf, staticClosure } from '../../browser-experiment/scripts/build-size.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(root, 'dist');
const require = createRequire(join(root, 'package.json'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const minify = process.env.RTFMRI_MINIFY !== '0';
const t0 = performance.now();
const { metafile } = await build({
  entryPoints: { task: join(root, 'src', 'task.ts'), monitor: join(root, 'src', 'monitor.ts'), worker: join(root, '..', '..', 'packages', 'sdk', 'src', 'browser', 'worker.ts') },
  bundle: true, format: 'esm', platform: 'browser', target: 'chrome110', conditions: ['source'], sourcemap: true, logLevel: 'warning',
  minify, keepNames: true, splitting: true, metafile: true, absWorkingDir: root,
  outdir: out,
});
cpSync(join(root, 'src', 'index.html'), join(out, 'index.html'));
cpSync(join(root, 'src', 'monitor.html'), join(out, 'monitor.html'));
cpSync(require.resolve('jspsych/css/jspsych.css'), join(out, 'jspsych.css'));
console.log(`example-jspsych: built dist/ in ${(performance.now() - t0).toFixed(0)} ms${minify ? '' : ' (not minified)'}`);

const worker = staticClosure(metafile, [outputOf(metafile, 'worker')]);
const problems = [];
for (const [label, name] of [['index.html (task.js)', 'task'], ['monitor.html (monitor.js)', 'monitor']]) {
  const pageFiles = staticClosure(metafile, [outputOf(metafile, name)]);
  const all = new Set([...pageFiles, ...worker]);
  console.log(`example-jspsych: ${label}: page ${describe(sizeOf(pageFiles, root))}; with the worker ${describe(sizeOf(all, root))}`);
  const dicom = dicomSources(sourcesOf(metafile, all));
  if (dicom.length) problems.push(`${label}: a feedback-only page loads dicom-wasm: ${dicom.join(', ')}`);
}
if (problems.length) {
  console.error(`example-jspsych: ${problems.join('\n')}`);
  process.exit(1);
}
