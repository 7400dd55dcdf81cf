// The WebAssembly rewrite (src/core/anonymize.c) must give exactly the bytes of the TypeScript
// rewrite it replaced (test/reference, the oracle): over the real series in several orders, and
// over thousands of volumes that share a layout but differ in the values the profile blanks,
// removes or replaces, in UIDs (replacements of another length), private creators and the CSA
// header. The core keeps state between calls (its UID cache, the loaded profile and map), so
// orders and repeats matter.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { anonymize, type AnonymizeOptions } from '../src/anonymize/index.js';
import { referenceAnonymize } from './reference/anonymize.js';
import { createUidMap } from '../src/anonymize/uid-map.js';
import { parseDicom } from '../src/dataset.js';
import { tagOf } from '../src/dictionary.js';
import { rng } from '../src/rng.js';
import { syntheticEpiVolume, type SyntheticEpiOptions } from '../src/synthetic.js';
import { F_ENCAPS, F_ITEM, F_SEQ, R_LEN, R_TAG, R_VAL, R_VRF, ROW_WORDS, UNDEF } from '../src/wasm.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const haveSample = existsSync(SAMPLE + '001_000013_000001.dcm');

/** The TypeScript oracle, as a copy (or the error's text). */
function full(bytes: Uint8Array, options: AnonymizeOptions): Uint8Array | string {
  try {
    return referenceAnonymize(bytes, options).slice();
  } catch (e) {
    return String(e);
  }
}

/** The WebAssembly rewrite, as a copy (or the error's text). */
function cached(bytes: Uint8Array, options: AnonymizeOptions): Uint8Array | string {
  try {
    return anonymize(bytes, options).slice();
  } catch (e) {
    return String(e);
  }
}

function same(a: Uint8Array | string, b: Uint8Array | string): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** Leaf elements (not sequences, items or pixel data) with a value: [row, value offset, length]. */
function leafValues(bytes: Uint8Array): [number, number, number, number][] {
  const rows = parseDicom(bytes)._s.rows;
  const out: [number, number, number, number][] = [];
  for (let r = 0; r < rows.length / ROW_WORDS; r++) {
    const o = r * ROW_WORDS;
    const flags = rows[o + R_VRF] >>> 16;
    const len = rows[o + R_LEN];
    if (flags & (F_SEQ | F_ITEM | F_ENCAPS) || len === UNDEF || len === 0 || rows[o + R_TAG] === 0x7fe00010) continue;
    out.push([r, rows[o + R_VAL], len, rows[o + R_TAG]]);
  }
  return out;
}

describe('anonymize in WebAssembly: the bytes of the TypeScript rewrite it replaced', () => {
  it('re-derives shifted dates: a volume whose dates differ (same layout) gives the full path bytes', () => {
    const uidMap = createUidMap({ secret: 'dates' });
    const a = syntheticEpiVolume(1, { tile: 16, slices: 9, seriesHeaderBytes: 500 });
    cached(a, { uidMap });
    for (const date of ['20190220', '20191231', '20200229', '2019022X']) {
      const b = a.slice();
      const ds = parseDicom(b);
      for (const k of ['StudyDate', 'SeriesDate', 'AcquisitionDate', 'ContentDate']) {
        const el = ds.element(k)!;
        b.set(new TextEncoder().encode(date), el.valueOffset);
      }
      const got = cached(b, { uidMap });
      expect(same(got, full(b, { uidMap })), date).toBe(true);
      expect(parseDicom(got as Uint8Array).getString('ContentDate'), date).not.toBe(date);
    }
  });

  it.skipIf(!haveSample)('gives the full path bytes over the real series, in several orders (skipped without ../shared)', () => {
    const names = readdirSync(SAMPLE).filter((f) => f.endsWith('.dcm')).sort();
    const files = names.map((f) => new Uint8Array(readFileSync(SAMPLE + f)));
    const order = [...files.keys(), ...[...files.keys()].reverse(), 3, 3, 4, 3, 9, 5, 5];
    for (const secret of ['a', 'b', 'c']) {
      const uidMap = createUidMap({ secret });
      for (const i of order) expect(same(cached(files[i], { uidMap }), full(files[i], { uidMap })), names[i]).toBe(true);
      // keep lists load another profile into the core: they must not share one
      for (const i of order) expect(same(cached(files[i], { uidMap, keep: ['PatientName', 'InstitutionName'] }), full(files[i], { uidMap, keep: ['PatientName', 'InstitutionName'] }))).toBe(true);
    }
    // a UID root: replacements under it, the same in both
    const rooted = createUidMap({ secret: 'r', root: '1.2.826.0.1.3680043.10.1' });
    for (const i of order) expect(same(cached(files[i], { uidMap: rooted }), full(files[i], { uidMap: rooted }))).toBe(true);
  });

  const SMALL: SyntheticEpiOptions = { tile: 16, slices: 9, volumes: 3, seriesHeaderBytes: 3000 };
  const volumes = [0, 1, 2, 3].map((i) => syntheticEpiVolume(i, SMALL));

  it('gives the full path bytes over thousands of mutated volumes of one layout, and mutated identifying values never leak', () => {
    mutationRun(volumes, 3000, 20261128);
  });

  it.skipIf(!haveSample)('the same over mutated volumes of the real series (skipped without ../shared)', () => {
    const real = [3, 4, 5].map((i) => new Uint8Array(readFileSync(`${SAMPLE}001_000013_00000${i}.dcm`)));
    mutationRun(real, 600, 7);
  });
});

const leafCache = new Map<Uint8Array, [number, number, number, number][]>();

function mutationRun(volumes: Uint8Array[], CASES: number, seed: number): void {
  {
    const rand = rng(seed);
    const uidMap = createUidMap({ secret: 'mutations' });
    const watched = ['PatientName', 'PatientID', 'InstitutionName', 'OperatorsName', 'StationName', 'ReferringPhysicianName', 'StudyDescription']
      .map((k) => tagOf(k))
      .filter((t): t is number => t !== undefined);
    let compared = 0;
    let leaksChecked = 0;
    for (let c = 0; c < CASES; c++) {
      const base = volumes[c % volumes.length];
      const leaves = leafCache.get(base) ?? leafCache.set(base, leafValues(base)).get(base)!;
      const mutated = base.slice();
      // mostly a single element's value (UID digits, a creator, CSA bytes, text), sometimes several
      const n = 1 + Math.floor(rand() * rand() * 6);
      const marker = `LEAK${c}`;
      let markerAt = -1;
      for (let k = 0; k < n; k++) {
        const [, v, len, tag] = leaves[Math.floor(rand() * leaves.length)];
        const mode = rand();
        if (mode < 0.35) {
          // a UID-like change: digits stay digits (the value keeps parsing, its replacement changes)
          for (let j = 0; j < len; j++) if (mutated[v + j] >= 0x30 && mutated[v + j] <= 0x39 && rand() < 0.2) mutated[v + j] = 0x30 + Math.floor(rand() * 10);
        } else if (mode < 0.7) {
          const j = v + Math.floor(rand() * len);
          mutated[j] = Math.floor(rand() * 256);
        } else if (mode < 0.85 && watched.includes(tag) && len >= marker.length) {
          for (let j = 0; j < marker.length; j++) mutated[v + j] = marker.charCodeAt(j);
          markerAt = tag;
        } else {
          for (let j = 0; j < len; j++) if (rand() < 0.5) mutated[v + j] = 0x20 + Math.floor(rand() * 95);
        }
      }
      // the core's UID cache holds the unmutated volume's UIDs, or the previous case's
      if (c % 3 === 0) cached(base, { uidMap });
      const viaPlan = cached(mutated, { uidMap });
      const reference = full(mutated, { uidMap });
      if (!same(viaPlan, reference)) throw new Error(`case ${c}: the WebAssembly output differs from the TypeScript rewrite's`);
      compared++;
      if (markerAt >= 0 && typeof viaPlan !== 'string') {
        expect(Buffer.from(viaPlan).includes(marker), `case ${c}: ${marker} in ${markerAt.toString(16)}`).toBe(false);
        leaksChecked++;
      }
    }
    expect(compared).toBe(CASES);
    expect(leaksChecked).toBeGreaterThan(CASES / 200);
  }
}
