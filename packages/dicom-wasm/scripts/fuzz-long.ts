// Long fuzz run: `npm run fuzz -- [cases per seed, default 50000] [seed] [parse|anonymize]`. Adds
// pydicom's test files as seeds when python3-pydicom is installed. Exits 1 on the first contract
// violation. `anonymize` also runs every mutant through anonymize (DicomParseError or an output
// that parses, byte-equal to the TypeScript rewrite's in test/reference) over every corpus.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, checkAnonymize, corpusSeeds, headerOffsets, mutate, rng, seeds, type AnonFuzzStats, type FuzzStats } from '../test/fuzz-lib.js';

const perSeed = Number(process.argv[2] ?? 50000);
const seed = Number(process.argv[3] ?? Date.now() % 1e9);
const anon = process.argv[4] === 'anonymize';
const all = anon ? corpusSeeds(2_000_000) : seeds();
const pydicom = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
if (!anon && existsSync(pydicom)) {
  for (const f of readdirSync(pydicom).filter((f) => f.endsWith('.dcm'))) {
    const b = readFileSync(join(pydicom, f));
    if (b.length < 2_000_000) all.push({ name: `pydicom ${f}`, bytes: new Uint8Array(b) });
  }
}
console.log(`fuzz: ${all.length} seeds x ${perSeed} cases, seed ${seed}`);
const total: FuzzStats = { cases: 0, parsed: 0, rejected: 0, reasons: {} };
const anonTotal: AnonFuzzStats = { cases: 0, accepted: 0, rejected: 0 };
const t0 = performance.now();
for (const [i, { name, bytes }] of all.entries()) {
  const rand = rng(seed + i);
  const hot = headerOffsets(bytes);
  const n = Math.max(100, Math.round(perSeed * Math.min(1, 20000 / Math.max(bytes.length, 1)) * (bytes.length > 100000 ? 0.2 : 1)));
  const ts = performance.now();
  let worst = 0;
  for (let k = 0; k < n; k++) {
    const m = mutate(bytes, hot, rand);
    const t = performance.now();
    try {
      check(m, total, `${name} (seed ${seed + i}, case ${k})`);
      if (anon) checkAnonymize(m, anonTotal, `${name} (seed ${seed + i}, case ${k})`);
    } catch (e) {
      console.error((e as Error).message);
      process.exit(1);
    }
    worst = Math.max(worst, performance.now() - t);
  }
  console.log(`${name}: ${n} cases in ${((performance.now() - ts) / 1000).toFixed(1)} s, slowest case ${worst.toFixed(2)} ms`);
}
console.log(`fuzz: ${total.cases} cases, ${total.parsed} parsed, ${total.rejected} rejected, ${((performance.now() - t0) / 1000).toFixed(1)} s; no contract violation`);
console.log('rejections by reason:', total.reasons);
if (anon) console.log(`anonymize: ${anonTotal.cases} cases, ${anonTotal.accepted} accepted (every output parsed and equal to the TypeScript rewrite's), ${anonTotal.rejected} rejected (by both)`);
