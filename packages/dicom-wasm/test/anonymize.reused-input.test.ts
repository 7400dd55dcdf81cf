// Inputs in memory the caller reuses. The runtime reads every file of a stream into one scratch
// Node Buffer and anonymizes it there; Node's Buffer#slice() is a view, not a copy. The caches that
// anonymize keeps between calls (the CSA filter's previous input, the plan's creator, date and UID
// values, the UID element cache) once held such "copies": the next file read into the scratch made
// them equal to the new bytes, so the CSA header's values (TimeAfterStart, ...) of an earlier
// volume were delivered with a later one, and a patch could even write into the caller's input.
// Every case compares with references made first, from copies of each file in plain Uint8Arrays.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anonymize, type AnonymizeOptions } from '../src/anonymize/index.js';
import { DEFAULT_PROFILE } from '../src/anonymize/profile.js';
import { createUidMap } from '../src/anonymize/uid-map.js';
import { filterCsaHeader, parseCsaHeader, csaValues } from '../src/csa.js';
import { parseDicom } from '../src/dataset.js';
import { rng } from '../src/rng.js';
import { syntheticEpiVolume, type SyntheticEpiOptions } from '../src/synthetic.js';
import { EXPLICIT_VR_BE, EXPLICIT_VR_LE } from '../src/transfer-syntax.js';
import { F_ENCAPS, F_ITEM, F_SEQ, R_LEN, R_TAG, R_VAL, R_VRF, ROW_WORDS, UNDEF } from '../src/wasm.js';
import { writeDicom } from '../src/writer.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const haveSample = existsSync(SAMPLE + '001_000013_000001.dcm');
const SMALL: SyntheticEpiOptions = { tile: 16, slices: 9, seriesHeaderBytes: 3000 };
const KEEP = new Set(DEFAULT_PROFILE.csaKeep);

const plain = (b: Uint8Array): Uint8Array => Uint8Array.from(b);
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The (0029,1010) value of a file. */
function csaOf(bytes: Uint8Array): Uint8Array {
  const e = parseDicom(bytes).element(0x00291010)!;
  return bytes.subarray(e.valueOffset, e.valueOffset + e.length);
}

/** What the runtime does: the file read into the start of one reused Buffer, anonymized there. */
class Scratch {
  readonly buf = Buffer.allocUnsafeSlow(4 << 20);
  load(file: Uint8Array): Buffer {
    this.buf.set(file);
    // what a previous, longer file left after the end stays there, as in the runtime
    return this.buf.subarray(0, file.length);
  }
}

function anonymizedAlone(files: Uint8Array[], options: AnonymizeOptions): Uint8Array[] {
  // plain copies: nothing of the caches can alias memory that changes later
  return files.map((f) => anonymize(plain(f), options).slice());
}

function runThroughScratch(files: Uint8Array[], order: number[], options: AnonymizeOptions, refs: Uint8Array[], output?: Uint8Array): void {
  const scratch = new Scratch();
  for (const [k, i] of order.entries()) {
    const input = scratch.load(files[i]);
    const got = anonymize(input, output ? { ...options, output } : options);
    if (output) expect(got.buffer).toBe(output.buffer);
    // the input is not modified
    expect(Buffer.compare(input, files[i]), `call ${k}: input ${i} modified`).toBe(0);
    // compared as a whole, and the CSA header on its own for a readable failure
    expect(csaValues(parseCsaHeader(csaOf(got)), 'TimeAfterStart'), `call ${k}: volume ${i}`).toEqual(csaValues(parseCsaHeader(csaOf(files[i])), 'TimeAfterStart'));
    expect(Buffer.from(csaOf(got)).equals(filterCsaHeader(csaOf(files[i]), KEEP)), `call ${k}: volume ${i} CSA`).toBe(true);
    expect(Buffer.compare(got, refs[i]), `call ${k}: volume ${i}`).toBe(0);
  }
}

describe('anonymize of inputs in a reused Node Buffer (the runtime reads files into one scratch)', () => {
  const synthetic = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => syntheticEpiVolume(i, SMALL));
  const ORDERS = [
    [0, 1, 2, 3, 4, 5, 6, 7],
    [7, 6, 5, 4, 3, 2, 1, 0],
    [3, 3, 4, 3, 0, 5, 5, 1, 7, 2, 6],
  ];

  it('gives the bytes of each file anonymized alone: synthetic run, several orders, new and kept outputs', () => {
    const uidMap = createUidMap({ secret: 'scratch-synthetic' });
    const refs = anonymizedAlone(synthetic, { uidMap });
    for (const order of ORDERS) runThroughScratch(synthetic, order, { uidMap }, refs);
    const kept = new Uint8Array(1 << 20);
    for (const order of ORDERS) runThroughScratch(synthetic, order, { uidMap }, refs, kept);
  });

  it.skipIf(!haveSample)('gives the bytes of each file anonymized alone: the real series (skipped without ../shared)', () => {
    const names = readdirSync(SAMPLE).filter((f) => /^001_000013_\d{6}\.dcm$/.test(f)).sort();
    const files = names.map((f) => new Uint8Array(readFileSync(SAMPLE + f)));
    const uidMap = createUidMap({ secret: 'scratch-real' });
    const refs = anonymizedAlone(files, { uidMap });
    const all = [...files.keys()];
    for (const order of [all, [...all].reverse(), [5, 2, 7, 8, 0, 10, 9, 7, 6, 1, 1, 3, 10, 0, 4]]) {
      runThroughScratch(files, order, { uidMap }, refs);
      runThroughScratch(files, order, { uidMap }, refs, new Uint8Array(1 << 20));
    }
  });

  it('outputs of earlier calls are never rewritten by later calls (no `output` given)', () => {
    const uidMap = createUidMap({ secret: 'kept-outputs' });
    const refs = anonymizedAlone(synthetic, { uidMap });
    const scratch = new Scratch();
    const kept: Uint8Array[] = [];
    const atReturn: string[] = [];
    const order = [...ORDERS[0], ...ORDERS[2]];
    for (const i of order) {
      kept.push(anonymize(scratch.load(synthetic[i]), { uidMap }));
      atReturn.push(digest(kept[kept.length - 1]));
    }
    for (const [k, i] of order.entries()) {
      expect(digest(kept[k]), `output ${k} (volume ${i}) changed after it was returned`).toBe(atReturn[k]);
      expect(Buffer.compare(kept[k], refs[i]), `output ${k} (volume ${i})`).toBe(0);
      // each result owns its memory
      for (let j = 0; j < k; j++) expect(kept[k].buffer === kept[j].buffer, `outputs ${j} and ${k} share memory`).toBe(false);
    }
  });

  it('the core UID cache keeps copies: UIDs of a volume read again into the reused Buffer map as createUidMap maps them', () => {
    const secret = 'uid-cache';
    const uidMap = createUidMap({ secret });
    const check = createUidMap({ secret });
    const scratch = new Scratch();
    for (const i of [2, 5, 2, 2, 7, 5]) {
      const input = scratch.load(synthetic[i]);
      const before = parseDicom(plain(input));
      const out = parseDicom(anonymize(input, { uidMap }));
      for (const k of ['SOPInstanceUID', 'SeriesInstanceUID', 'StudyInstanceUID', 'FrameOfReferenceUID']) {
        const was = before.getString(k);
        if (!was) continue;
        expect(out.getString(k), `volume ${i} ${k}`).toBe(check.map(was));
      }
      // the reused Buffer now holds another volume: the cache must not have kept views of it
      scratch.load(synthetic[(i + 3) % synthetic.length]);
    }
  });

  it('mutated volumes in one reused Buffer (UIDs, creators, dates, CSA bytes, text) give the bytes of each volume alone', () => {
    const uidMap = createUidMap({ secret: 'scratch-mutations' });
    const CASES = 1500;
    const rand = rng(20261207);
    const bases = synthetic.slice(0, 4);
    const leaves = bases.map(leafValues);
    const cases: Uint8Array[] = [];
    for (let c = 0; c < CASES; c++) {
      const b = c % bases.length;
      const m = bases[b].slice();
      const n = 1 + Math.floor(rand() * rand() * 6);
      for (let k = 0; k < n; k++) {
        const [v, len] = leaves[b][Math.floor(rand() * leaves[b].length)];
        const mode = rand();
        if (mode < 0.4) {
          for (let j = 0; j < len; j++) if (m[v + j] >= 0x30 && m[v + j] <= 0x39 && rand() < 0.2) m[v + j] = 0x30 + Math.floor(rand() * 10);
        } else if (mode < 0.7) {
          m[v + Math.floor(rand() * len)] = Math.floor(rand() * 256);
        } else {
          for (let j = 0; j < len; j++) if (rand() < 0.5) m[v + j] = 0x20 + Math.floor(rand() * 95);
        }
      }
      cases.push(m);
    }
    const outcome = (f: () => Uint8Array): string => {
      try {
        return digest(f());
      } catch (e) {
        return String(e);
      }
    };
    // first every case from a plain copy of its own, then the same sequence through one Buffer
    const want = cases.map((m) => outcome(() => anonymize(plain(m), { uidMap })));
    const scratch = new Scratch();
    let wrong = 0;
    const first: string[] = [];
    for (const [c, m] of cases.entries()) {
      const got = outcome(() => anonymize(scratch.load(m), { uidMap }));
      if (got !== want[c]) {
        wrong++;
        if (first.length < 5) first.push(`case ${c}`);
      }
    }
    expect(wrong, `mismatches (first: ${first.join(', ')})`).toBe(0);
  });
});

/** Leaf elements (not sequences, items or pixel data) with a value: [value offset, length]. */
function leafValues(bytes: Uint8Array): [number, number][] {
  const rows = parseDicom(bytes)._s.rows;
  const out: [number, number][] = [];
  for (let r = 0; r < rows.length / ROW_WORDS; r++) {
    const o = r * ROW_WORDS;
    const flags = rows[o + R_VRF] >>> 16;
    const len = rows[o + R_LEN];
    if (flags & (F_SEQ | F_ITEM | F_ENCAPS) || len === UNDEF || len === 0 || rows[o + R_TAG] === 0x7fe00010) continue;
    out.push([rows[o + R_VAL], len]);
  }
  return out;
}

describe('pixelData() of a Node Buffer', () => {
  const image = (ts: string): Uint8Array =>
    writeDicom(
      [
        { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
        { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3' },
        { tag: 'Rows', vr: 'US', value: 2 },
        { tag: 'Columns', vr: 'US', value: 2 },
        { tag: 'BitsAllocated', vr: 'US', value: 16 },
        { tag: 'PixelData', vr: 'OW', value: new Uint16Array([1, 2, 0x0304, 0xfffe]) },
      ],
      { transferSyntaxUID: ts },
    );

  for (const ts of [EXPLICIT_VR_LE, EXPLICIT_VR_BE]) {
    it(`a copy of the right values when unaligned or big endian, the input unchanged (${ts})`, () => {
      const file = image(ts);
      for (const shift of [0, 1, 3]) {
        // a Buffer over a larger ArrayBuffer that starts elsewhere (as Node's pooled Buffers do)
        const ab = Buffer.alloc(file.length + 64, 0xee);
        const buf = ab.subarray(shift, shift + file.length);
        buf.set(file);
        const px = parseDicom(buf).pixelData() as Uint16Array;
        expect(Array.from(px), `shift ${shift}`).toEqual([1, 2, 0x0304, 0xfffe]);
        expect(Buffer.compare(buf, file), `shift ${shift}: input modified`).toBe(0);
      }
    });
  }
});

describe('anonymize options', () => {
  it('refuses a UID map createUidMap did not make (the core derives UIDs from the secret: a custom map() would be ignored)', () => {
    const inner = createUidMap({ secret: 'x' });
    const custom = { ...inner, map: (u: string) => `9.${u.length}` };
    expect(() => anonymize(syntheticEpiVolume(0, SMALL), { uidMap: custom })).toThrow(TypeError);
    expect(() => anonymize(syntheticEpiVolume(0, SMALL), { uidMap: inner })).not.toThrow();
  });
});
