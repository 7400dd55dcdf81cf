// The anonymizer on mutants of every corpus: a DicomParseError or an output that parses (issue 12:
// 13 of 1,000,000 fuzzed inputs were accepted and gave an output that did not), and the bytes of
// the TypeScript rewrite the WebAssembly pass replaced (test/reference). Sized for CI;
// `npm run fuzz -- <cases per seed> <seed> anonymize` runs the long version.
import { describe, expect, it } from 'vitest';
import { checkAnonymize, corpusSeeds, headerOffsets, mutate, rng, type AnonFuzzStats } from './fuzz-lib.js';

describe('anonymize fuzz (short run)', () => {
  const all = corpusSeeds();
  it(`mutants of ${all.length} corpus files: DicomParseError or an output that parses, the same as the TypeScript rewrite's`, () => {
    const total: AnonFuzzStats = { cases: 0, accepted: 0, rejected: 0 };
    for (const [i, { name, bytes }] of all.entries()) {
      const rand = rng(0xa11 + i * 7919);
      const hot = headerOffsets(bytes);
      const n = bytes.length > 100_000 ? 150 : 600;
      for (let k = 0; k < n; k++) checkAnonymize(mutate(bytes, hot, rand), total, `${name} mutant ${k}`);
      checkAnonymize(bytes, total, `${name} as is`);
    }
    console.log(`[dicom-wasm] anonymize fuzz: ${total.cases} cases over ${all.length} files, ${total.accepted} accepted, ${total.rejected} rejected`);
    expect(total.accepted).toBeGreaterThan(total.cases / 20);
  });
});
