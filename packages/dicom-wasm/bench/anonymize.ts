// anonymize + re-encode rows of the dicom-wasm benchmark, run by bench/index.ts (run(ctx)) or alone
// (`tsx bench/anonymize.ts`). Baselines: a plain copy of the file (what producing new bytes costs
// at the least), dcmjs's naturalize -> edit -> denaturalize -> write route (a real re-encoding
// anonymizer), and dicom-parser + overwrite-in-place (fast, but it cannot remove elements,
// replace UIDs or change lengths: a lower bound, not an equivalent).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dcmjs from 'dcmjs';
import dicomParser from 'dicom-parser';
import { anonymize, anonymizeParsed } from '../src/anonymize/index.js';
import { parseDicom } from '../src/dataset.js';
import { referenceAnonymize } from '../test/reference/anonymize.js';
import { createUidMap } from '../src/anonymize/uid-map.js';
import { ready } from '../src/wasm.js';
import { RTCLOUD_BLANKED } from '../src/anonymize/profile.js';
import { syntheticEpiVolume } from '../src/synthetic.js';
import { tagOf } from '../src/dictionary.js';
import { compare, report, time, us, type Stats } from './lib.js';

/** Times several functions in alternating rounds; returns each one's stats. */
function timeInterleaved(fns: (() => unknown)[], rounds = 2000, warmup = 200): Stats[] {
  for (let i = 0; i < warmup; i++) for (const f of fns) f();
  const samples = fns.map(() => [] as number[]);
  const tEnd = performance.now() + 8000;
  for (let r = 0; r < rounds && (r < 100 || performance.now() < tEnd); r++) {
    fns.forEach((f, i) => {
      const t = performance.now();
      f();
      samples[i].push(performance.now() - t);
    });
  }
  return samples.map((s) => {
    s.sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return { p50: q(0.5), p99: q(0.99), mean: s.reduce((x, y) => x + y, 0) / s.length, n: s.length };
  });
}

const here = dirname(fileURLToPath(import.meta.url));
const sampleDir = join(here, '../../../../shared/data/rtcloud-sample/');

export async function run(ctx: { bytes: Uint8Array; label: string }): Promise<void> {
  await ready();
  for (const l of [dcmjs.log, dcmjs.log.getLogger('validation.dcmjs')]) l.setLevel('silent');
  const { bytes, label } = ctx;
  // A run's volumes: each has its own SOPInstanceUID and source-image references.
  const series: Uint8Array[] = existsSync(sampleDir)
    ? readdirSync(sampleDir).filter((f) => /^001_000013_0000\d\d\.dcm$/.test(f)).sort().map((f) => new Uint8Array(readFileSync(sampleDir + f)))
    : Array.from({ length: 10 }, (_, i) => syntheticEpiVolume(i));

  const session = createUidMap();
  const out = anonymize(bytes, { uidMap: session });
  console.log(`\nanonymize + re-encode ${label}: ${bytes.length} B in, ${out.length} B out (CSA series header and identifying elements dropped)`);

  const names = [...RTCLOUD_BLANKED, 'InstitutionName', 'InstitutionAddress', 'StationName', 'DeviceSerialNumber', 'OperatorsName'];

  // dcmjs: the route its users take to anonymize (naturalize, blank, write back)
  const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
  const viaDcmjs = (b: Uint8Array) => {
    const file = DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const nat = DicomMetaDictionary.naturalizeDataset(file.dict);
    for (const n of names) if (n in nat) nat[n] = '';
    nat.SOPInstanceUID = session.map(String(nat.SOPInstanceUID));
    file.dict = DicomMetaDictionary.denaturalizeDataset(nat);
    return new Uint8Array(file.write());
  };

  // dicom-parser: parse, copy, space-fill the values in place (no removal, no UID replacement)
  const tags = names.map((n) => 'x' + tagOf(n)!.toString(16).padStart(8, '0'));
  const viaDicomParser = (b: Uint8Array) => {
    const ds = dicomParser.parseDicom(b);
    const copy = b.slice();
    for (const t of tags) {
      const el = ds.elements[t];
      if (el) copy.fill(0x20, el.dataOffset, el.dataOffset + el.length);
    }
    return copy;
  };

  const dst = new Uint8Array(bytes.length);
  const kept = new Uint8Array(bytes.length + 4096);
  let k = 0;
  let j = 0;
  // Interleaved, so that every case sees the same heap and allocator state: copies of 300-450 KB
  // cost 10 us or 150 us depending on whether the allocator hands out fresh (faulting) pages.
  const [memcpy, slice, warm, fresh, run10, dpStats, into] = timeInterleaved([
    () => dst.set(bytes),
    () => bytes.slice(),
    () => anonymize(bytes, { uidMap: session }),
    // every call sees UIDs the session has not mapped yet: the cost for the first volume of a run
    () => anonymize(series[k++ % series.length], { uidMap: createUidMap({ secret: 'bench' + k }) }),
    () => anonymize(series[j++ % series.length], { uidMap: session }),
    () => viaDicomParser(bytes),
    () => anonymize(bytes, { uidMap: session, output: kept }),
  ]);
  // The same comparisons with only the two cases alternating: the seven-case rounds above also
  // evict the input and output from the caches between calls (the copies then slow down too).
  const [memcpy2, into2] = timeInterleaved([() => dst.set(bytes), () => anonymize(bytes, { uidMap: session, output: kept })], 4000);
  const [slice2, warm2] = timeInterleaved([() => bytes.slice(), () => anonymize(bytes, { uidMap: session })], 4000);
  // the figure: anonymize + re-encode of a parsed file (the runtime parses once, for the
  // completeness check) against a plain copy of the file into a new buffer
  const parsed = parseDicom(bytes);
  const [slice4, parsed4] = timeInterleaved([() => bytes.slice(), () => anonymizeParsed(parsed, { uidMap: session })], 4000);
  // the real-time case: each volume of the run in turn (new SOP instance and source-image UIDs,
  // new CSA values), against a set() of the same file
  let a3 = 0;
  let b3 = 0;
  const dst3 = new Uint8Array(Math.max(...series.map((f) => f.length)));
  const [memcpy3, into3] = timeInterleaved([() => dst3.set(series[a3++ % series.length]), () => anonymize(series[b3++ % series.length], { uidMap: session, output: kept })], 4000);
  // A/B: the TypeScript rewrite this replaced (test/reference, the tests' oracle), same pairs
  const [memcpyTs, intoTs] = timeInterleaved([() => dst.set(bytes), () => referenceAnonymize(bytes, { uidMap: session })], 4000);
  const [sliceTs, warmTs] = timeInterleaved([() => bytes.slice(), () => referenceAnonymize(bytes, { uidMap: session })], 4000);
  a3 = b3 = 0;
  const [memcpy3Ts, into3Ts] = timeInterleaved([() => dst3.set(series[a3++ % series.length]), () => referenceAnonymize(series[b3++ % series.length], { uidMap: session })], 4000);
  viaDcmjs(bytes);
  const dcmjsStats = time(() => viaDcmjs(bytes), { warmup: 20, n: 300 });

  compare(`anonymize + re-encode ${label}`, [
    { lib: 'dicom-wasm anonymize', stats: warm },
    { lib: 'dcmjs naturalize+write', stats: dcmjsStats },
    { lib: 'dicom-parser fill in place', stats: dpStats },
  ]);
  console.log(`  dicom-wasm, each file of the run in turn (one session)  p50 ${us(run10.p50)}  p99 ${us(run10.p99)}`);
  console.log(`  dicom-wasm, new session per call (every UID hashed)     p50 ${us(fresh.p50)}  p99 ${us(fresh.p99)}`);
  console.log(`  dicom-wasm, into a kept output buffer (options.output)   p50 ${us(into.p50)}  p99 ${us(into.p99)}`);
  console.log(`  plain copy of the file: into a kept buffer p50 ${us(memcpy.p50)} p99 ${us(memcpy.p99)}, into a new buffer (slice) p50 ${us(slice.p50)} p99 ${us(slice.p99)}`);
  const r1 = warm.p50 / slice.p50;
  const r2 = into.p50 / memcpy.p50;
  const ratio = (a: Stats, b: Stats) => `p50 ${(a.p50 / b.p50).toFixed(1)}x, p99 ${(a.p99 / b.p99).toFixed(1)}x`;
  console.log(`  anonymize / copy (target: 1.5x a plain copy), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}:`);
  console.log(`    new buffer each call  (anonymize vs slice): ${ratio(warm, slice)}`);
  console.log(`    kept buffer           (options.output vs set): ${ratio(into, memcpy)}`);
  console.log(`    run of volumes, new buffer (vs slice):      ${ratio(run10, slice)}`);
  console.log(`  the same, two cases alternating (warm caches):`);
  console.log(`    kept buffer: anonymize p50 ${us(into2.p50)} p99 ${us(into2.p99)}, set p50 ${us(memcpy2.p50)} p99 ${us(memcpy2.p99)}: ${ratio(into2, memcpy2)}`);
  console.log(`    new buffer:  anonymize p50 ${us(warm2.p50)} p99 ${us(warm2.p99)}, slice p50 ${us(slice2.p50)} p99 ${us(slice2.p99)}: ${ratio(warm2, slice2)}`);
  console.log(`    run of volumes, kept buffer: anonymize p50 ${us(into3.p50)} p99 ${us(into3.p99)}, set p50 ${us(memcpy3.p50)} p99 ${us(memcpy3.p99)}: ${ratio(into3, memcpy3)}`);
  console.log(`    parsed file (anonymizeParsed) vs slice: anonymize p50 ${us(parsed4.p50)} p99 ${us(parsed4.p99)}, slice p50 ${us(slice4.p50)} p99 ${us(slice4.p99)}: ${ratio(parsed4, slice4)} (target 1.5x)`);
  console.log(`  the TypeScript rewrite it replaced (test/reference; new buffer each call, includes its parse):`);
  console.log(`    vs set:   p50 ${us(intoTs.p50)} p99 ${us(intoTs.p99)}, set p50 ${us(memcpyTs.p50)}: ${ratio(intoTs, memcpyTs)}`);
  console.log(`    vs slice: p50 ${us(warmTs.p50)} p99 ${us(warmTs.p99)}, slice p50 ${us(sliceTs.p50)}: ${ratio(warmTs, sliceTs)}`);
  console.log(`    run of volumes: p50 ${us(into3Ts.p50)} p99 ${us(into3Ts.p99)}, set p50 ${us(memcpy3Ts.p50)}: ${ratio(into3Ts, memcpy3Ts)}`);
  console.log(`  load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  report(`anonymize ${label} into a kept buffer, alternating with set() only`, 'p50', into2.p50 * 1000, 'us', `${(into2.p50 / memcpy2.p50).toFixed(1)}x set() p50 ${us(memcpy2.p50)}`);
  report(`anonymize ${label} into a kept buffer, alternating with set() only`, 'p99', into2.p99 * 1000, 'us', `${(into2.p99 / memcpy2.p99).toFixed(1)}x set() p99 ${us(memcpy2.p99)}`);
  report(`anonymize each volume of the run into a kept buffer, alternating with set() only`, 'p50', into3.p50 * 1000, 'us', `${(into3.p50 / memcpy3.p50).toFixed(1)}x set() p50 ${us(memcpy3.p50)}`);
  report(`anonymize each volume of the run into a kept buffer, alternating with set() only`, 'p99', into3.p99 * 1000, 'us', `${(into3.p99 / memcpy3.p99).toFixed(1)}x set() p99 ${us(memcpy3.p99)}`);
  report(`anonymize + re-encode of the parsed ${label} (anonymizeParsed), alternating with slice() only`, 'p50', parsed4.p50 * 1000, 'us', `${(parsed4.p50 / slice4.p50).toFixed(2)}x slice() p50 ${us(slice4.p50)} (target 1.5x)`);
  report(`parse + anonymize ${label}, new buffer, alternating with slice() only`, 'p50', warm2.p50 * 1000, 'us', `${(warm2.p50 / slice2.p50).toFixed(2)}x slice() p50 ${us(slice2.p50)} (target 1.5x)`);
  report(`the TypeScript rewrite it replaced, ${label}, alternating with slice() only`, 'p50', warmTs.p50 * 1000, 'us', `${(warmTs.p50 / sliceTs.p50).toFixed(2)}x slice() p50 ${us(sliceTs.p50)}`);
  report(`anonymize ${label}, each file of the run`, 'p50', run10.p50 * 1000, 'us', 'one session UID map across the volumes');
  report(`anonymize ${label}, each file of the run`, 'p99', run10.p99 * 1000, 'us');
  report(`anonymize ${label}, new session per call`, 'p50', fresh.p50 * 1000, 'us', 'every UID hashed (SHA-256)');
  report(`copy ${label} into a new buffer (slice)`, 'p50', slice.p50 * 1000, 'us', `anonymize is ${r1.toFixed(1)}x this`);
  report(`anonymize ${label} into a kept buffer`, 'p50', into.p50 * 1000, 'us', 'options.output');
  report(`copy ${label} into a kept buffer (set)`, 'p50', memcpy.p50 * 1000, 'us', `anonymize into a kept buffer is ${r2.toFixed(1)}x this`);
}

// standalone: `tsx bench/anonymize.ts`
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const sample = join(sampleDir, '001_000013_000001.dcm');
  const real = existsSync(sample);
  const bytes = real ? new Uint8Array(readFileSync(sample)) : syntheticEpiVolume(1);
  await run({ bytes, label: `${Math.round(bytes.length / 1000)} KB ${real ? 'Siemens mosaic' : 'synthetic mosaic'}` });
}
