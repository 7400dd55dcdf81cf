// Thousands of mutated and truncated inputs in the normal run; `npm run fuzz` runs the long version.
import { describe, expect, it } from 'vitest';
import { check, headerOffsets, mutate, rng, seeds, type FuzzStats } from './fuzz-lib.js';

describe('fuzz (short run; `npm run fuzz` for the long one)', () => {
  const all = seeds();
  for (const { name, bytes } of all) {
    it(`mutants of ${name}: only DicomParseError, never a hang`, () => {
      const stats: FuzzStats = { cases: 0, parsed: 0, rejected: 0, reasons: {} };
      const hot = headerOffsets(bytes);
      const n = name === 'real mosaic' ? 4000 : 2000;
      const rand = rng(0x5eed + name.length * 7919);
      for (let i = 0; i < n; i++) check(mutate(bytes, hot, rand), stats, `${name} mutant ${i}`);
      expect(stats.cases).toBe(n);
      // both outcomes occur: the mutations reach the walker's error paths and its success paths
      expect(stats.rejected).toBeGreaterThan(0);
      expect(stats.parsed).toBeGreaterThan(0);
    });
  }

  it('random bytes and tiny inputs', () => {
    const stats: FuzzStats = { cases: 0, parsed: 0, rejected: 0, reasons: {} };
    const rand = rng(42);
    for (let i = 0; i < 1000; i++) {
      const len = Math.floor(rand() * (i < 500 ? 16 : 600));
      const b = new Uint8Array(len).map(() => Math.floor(rand() * 256));
      if (i % 3 === 0 && len > 136) b.set([0x44, 0x49, 0x43, 0x4d], 128);
      if (i % 3 === 1 && len > 8) b.set([0x08, 0x00, 0x05, 0x00], 0);
      check(b, stats, `random ${i}`);
    }
    expect(stats.cases).toBe(1000);
  });
});
