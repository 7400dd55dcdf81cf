// dicom-wasm benchmark: parse and completeness check of the 457 KB Siemens mosaic, side by side with
// dicom-parser and dcmjs in one process; module instantiation. Prints figures, appends JSON lines
// to $RTFMRI_BENCH_JSON (see scripts/bench.mjs at the root). Figures are not asserted anywhere.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import dcmjs from 'dcmjs';
import dicomParser from 'dicom-parser';
import { allocInput, isComplete, parseDicom, ready } from '../src/index.js';
import { syntheticEpiVolume } from '../src/synthetic.js';
import { coreSync, instantiateMs, resetCoreForTesting } from '../src/wasm.js';
import { compare, report, time, us } from './lib.js';

for (const l of [dcmjs.log, dcmjs.log.getLogger('validation.dcmjs')]) l.setLevel('silent'); // it warns on every truncated read
const here = dirname(fileURLToPath(import.meta.url));
const sample = join(here, '../../../../shared/data/rtcloud-sample/001_000013_000001.dcm');
const real = existsSync(sample);
const bytes: Uint8Array = real ? new Uint8Array(readFileSync(sample)) : syntheticEpiVolume(1);
const label = `${Math.round(bytes.length / 1000)} KB ${real ? 'Siemens mosaic' : 'synthetic mosaic (../shared absent)'}`;
console.log(`dicom-wasm benchmark on ${label}, Node ${process.version}`);

// ---- instantiation ----
await ready();
const first = instantiateMs;
const inst: number[] = [];
for (let i = 0; i < 50; i++) {
  resetCoreForTesting();
  coreSync();
  inst.push(instantiateMs);
}
inst.sort((a, b) => a - b);
console.log(`\nmodule instantiation (ready(): base64 decode + compile + instantiate): first ${first.toFixed(2)} ms, then p50 ${inst[25].toFixed(2)} ms, max ${inst[49].toFixed(2)} ms`);
report('module instantiation', 'first', first, 'ms', 'ready(): base64 decode + compile + instantiate');
report('module instantiation', 'p50', inst[25], 'ms', 'synchronous re-instantiation, 50 runs');

// ---- parse ----
const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
const parseOurs = () => parseDicom(bytes);
const parseDP = () => dicomParser.parseDicom(bytes);
const parseDcmjs = () => dcmjs.data.DicomMessage.readFile(ab);
// sanity: the three agree on what they read
if (parseOurs().get('InstanceNumber') !== Number(parseDP().string('x00200013'))) throw new Error('parsers disagree');

compare(`parse ${label}`, [
  { lib: 'dicom-wasm', stats: time(parseOurs) },
  { lib: 'dicom-parser', stats: time(parseDP) },
  { lib: 'dcmjs', stats: time(parseDcmjs, { warmup: 50, n: 500 }) },
]);

const inMem = allocInput(bytes.length);
inMem.set(bytes);
const t = time(() => parseDicom(inMem));
console.log(`  dicom-wasm, bytes already in module memory (allocInput): p50 ${us(t.p50)}  p99 ${us(t.p99)}`);
report(`parse ${label} from module memory`, 'p50', t.p50 * 1000, 'us', 'allocInput: the walk copies nothing');

// parse and read what a real-time pipeline reads first
const readOurs = () => {
  const ds = parseDicom(bytes);
  return [ds.get('InstanceNumber'), ds.get('AcquisitionTime'), ds.get('Rows'), ds.get('Columns'), (ds.pixelData() as Uint16Array).length];
};
const readDP = () => {
  const ds = dicomParser.parseDicom(bytes);
  const px = ds.elements.x7fe00010;
  return [ds.intString('x00200013'), ds.string('x00080032'), ds.uint16('x00280010'), ds.uint16('x00280011'),
    new Uint16Array(bytes.buffer, bytes.byteOffset + px.dataOffset, px.length / 2).length];
};
const readDcmjs = () => {
  const d = dcmjs.data.DicomMessage.readFile(ab).dict;
  return [d['00200013'].Value[0], d['00080032'].Value[0], d['00280010'].Value[0], d['00280011'].Value[0], d['7FE00010'].Value[0].byteLength];
};
compare(`parse + read 4 values and the pixel view, ${label}`, [
  { lib: 'dicom-wasm', stats: time(readOurs) },
  { lib: 'dicom-parser', stats: time(readDP) },
  { lib: 'dcmjs', stats: time(readDcmjs, { warmup: 50, n: 500 }) },
]);

// ---- completeness ----
// Peers have no completeness check: the closest is "parse it and see whether it throws and has pixel data".
const truncated = bytes.subarray(0, Math.floor(bytes.length * 0.67));
const dpComplete = (b: Uint8Array) => { try { return dicomParser.parseDicom(b).elements.x7fe00010 !== undefined; } catch { return false; } };
const dcmjsComplete = (b: Uint8Array) => {
  try { return dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)).dict['7FE00010'] !== undefined; } catch { return false; }
};
if (!isComplete(bytes) || isComplete(truncated) || !dpComplete(bytes) || dpComplete(truncated)) throw new Error('completeness disagrees');
compare(`isComplete whole ${label}`, [
  { lib: 'dicom-wasm', stats: time(() => isComplete(bytes)) },
  { lib: 'dicom-parser', stats: time(() => dpComplete(bytes)) },
  { lib: 'dcmjs', stats: time(() => dcmjsComplete(bytes), { warmup: 50, n: 500 }) },
]);
compare(`isComplete truncated at 67% (${truncated.length} B)`, [
  { lib: 'dicom-wasm', stats: time(() => isComplete(truncated)) },
  { lib: 'dicom-parser', stats: time(() => dpComplete(truncated)) },
  { lib: 'dcmjs', stats: time(() => dcmjsComplete(truncated), { warmup: 50, n: 500 }) },
]);

// ---- anonymize + re-encode ----
// The anonymizer's rows (anonymize + re-encode vs dicom-parser/dcmjs and vs a plain memcpy) live in
// bench/anonymize.ts, owned by the anonymizer's author; this runner picks it up when it exists.
const anonymizeCases = join(here, 'anonymize.ts');
if (existsSync(anonymizeCases)) {
  const mod = (await import(pathToFileURL(anonymizeCases).href)) as { run(ctx: { bytes: Uint8Array; label: string }): Promise<void> | void };
  await mod.run({ bytes, label });
} else {
  console.log('\n(anonymize rows: bench/anonymize.ts not present yet)');
}
