// What a page loads, from an esbuild metafile (code splitting): the files an entry imports
// statically (loaded with it), the chunks it may import later (dynamic import), their sizes as
// served (minified, gzip) and the sources inside. Used by the examples' builds to print and check
// the page budget (issue 14: page + worker + chunks of an uncompressed-DICOM session <= 150 KB gzip).
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The budget: all JS of a page showing an uncompressed DICOM session, gzip, in bytes. */
export const PAGE_BUDGET_GZIP = 150_000;

/** The output file (metafile key) of entry point `name` (e.g. 'app' for entryPoints { app: ... }). */
export function outputOf(metafile, name) {
  const key = Object.keys(metafile.outputs).find((k) => k.endsWith('.js') && basename(k) === `${name}.js`);
  if (!key) throw new Error(`no output ${name}.js in the build`);
  return key;
}

/** `outputs` and every chunk they import statically (what the browser fetches with them). */
export function staticClosure(metafile, outputs) {
  const seen = new Set();
  const visit = (o) => {
    if (seen.has(o)) return;
    seen.add(o);
    for (const i of metafile.outputs[o].imports) if (i.kind === 'import-statement' && metafile.outputs[i.path]) visit(i.path);
  };
  for (const o of outputs) visit(o);
  return seen;
}

/**
 * The chunks `outputs` may load by dynamic import whose entry point (a source path) matches
 * `which`, with their static closure: e.g. the DICOM reader and the frame code a worker loads on
 * its first volume.
 */
export function dynamicChunks(metafile, outputs, which) {
  const found = new Set();
  for (const o of staticClosure(metafile, outputs))
    for (const i of metafile.outputs[o].imports)
      if (i.kind === 'dynamic-import' && metafile.outputs[i.path] && which.test(metafile.outputs[i.path].entryPoint ?? '')) found.add(i.path);
  return staticClosure(metafile, found);
}

/** Sources (metafile input paths) bundled into these outputs. */
export function sourcesOf(metafile, outputs) {
  const s = new Set();
  for (const o of outputs) for (const [input, v] of Object.entries(metafile.outputs[o].inputs)) if (v.bytesInOutput > 0) s.add(input);
  return [...s];
}

/** Minified and gzip bytes of output files (each gzipped on its own, as a server sends them). */
export function sizeOf(outputs, cwd = process.cwd()) {
  let min = 0;
  let gzip = 0;
  for (const o of outputs) {
    const bytes = readFileSync(resolve(cwd, o));
    min += bytes.length;
    gzip += gzipSync(bytes).length;
  }
  return { min, gzip, files: outputs.size ?? outputs.length };
}

export const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
export const describe = (s) => `${kib(s.min)} min, ${kib(s.gzip)} gzip (${s.files} files)`;

/** dicom-wasm's sources among these (none may be in a feedback-only page). */
export const dicomSources = (sources) => sources.filter((p) => /packages\/dicom-wasm\//.test(p));

/** The DICOM reader's weight (walker, dictionaries, dataset) and the anonymizer's: never on a page thread at start. */
export const dicomReaderSources = (sources) =>
  sources.filter((p) => /packages\/dicom-wasm\/(generated\/|src\/(dataset|dictionary|private-dictionary|private-dictionary-data|anonymize\/.*)\.[tj]s$)/.test(p));
