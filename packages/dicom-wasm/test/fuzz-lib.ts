// Mutation fuzzing shared by the normal test run (fuzz.test.ts) and the long run (scripts/fuzz-long.ts).
// Contract checked: parseDicom throws only DicomParseError (never 'internal error'), isComplete
// never throws, and a dataset that parsed can be fully read (every value, item and pixel view).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { referenceAnonymize } from './reference/anonymize.js';
import { anonymize, createUidMap, DicomDataset, DicomParseError, encapsulated, isComplete, parseDicom, writeDicom } from '../src/index.js';
import { syntheticEpiVolume } from '../src/synthetic.js';
import { findingsElements } from './phi-fixtures.js';
import { writeDataSet } from '../src/writer.js';
import { everyVr } from './parse-fixtures.js';

export { rng } from '../src/rng.js';

const INTERESTING32 = [0, 1, 2, 7, 8, 0xff, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff0, 0xfffffffe, 0xffffffff];

/**
 * One mutant of `src`. Mutations aim at the structure: header bytes near element starts (`hot`
 * offsets), length fields set to boundary values, item/delimiter tags planted, truncation,
 * byte insertion/deletion, random bit flips.
 */
export function mutate(src: Uint8Array, hot: number[], rand: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(rand() * n);
  const at = () => (hot.length && rand() < 0.7 ? Math.min(src.length - 1, hot[pick(hot.length)] + pick(12)) : pick(src.length));
  let out = src.slice();
  const rounds = 1 + pick(4);
  for (let k = 0; k < rounds && out.length > 0; k++) {
    const kind = pick(8);
    const o = Math.min(at(), out.length - 1);
    const dv = new DataView(out.buffer);
    switch (kind) {
      case 0: out[o] ^= 1 << pick(8); break;
      case 1: out[o] = pick(256); break;
      case 2: if (o + 4 <= out.length) dv.setUint32(o, INTERESTING32[pick(INTERESTING32.length)], rand() < 0.8); break;
      case 3: if (o + 2 <= out.length) dv.setUint16(o, [0, 1, 0xffff, 0x7fff, 8][pick(5)], true); break;
      case 4: if (o + 4 <= out.length) out.set([[0xfe, 0xff, 0x00, 0xe0], [0xfe, 0xff, 0xdd, 0xe0], [0xfe, 0xff, 0x0d, 0xe0]][pick(3)], o); break;
      case 5: out = out.slice(0, o); break;
      case 6: { const n = 1 + pick(16); const ins = new Uint8Array(n).map(() => pick(256)); const r = new Uint8Array(out.length + n); r.set(out.subarray(0, o)); r.set(ins, o); r.set(out.subarray(o), o + n); out = r; break; }
      default: { const n = Math.min(1 + pick(16), out.length - o); const r = new Uint8Array(out.length - n); r.set(out.subarray(0, o)); r.set(out.subarray(o + n), o); out = r; }
    }
  }
  return out;
}

function readAll(ds: DicomDataset, depth = 0): number {
  let n = 0;
  for (const e of ds.elements()) {
    void e.value; void e.vr; void e.keyword; void e.end; void e.tagHex;
    for (const item of e.items ?? []) n += readAll(item, depth + 1);
    void e.fragments;
    n++;
  }
  if (depth === 0) { ds.pixelData(); void ds.meta.size; }
  return n;
}

export interface FuzzStats { cases: number; parsed: number; rejected: number; reasons: Record<string, number> }

/** Runs one input through the contract; throws (with the input's seed in the message) on a violation. */
export function check(bytes: Uint8Array, stats: FuzzStats, label: string): void {
  stats.cases++;
  let complete: unknown;
  try {
    complete = isComplete(bytes);
  } catch (e) {
    throw new Error(`${label}: isComplete threw ${(e as Error)?.stack ?? e}`);
  }
  if (typeof complete !== 'boolean') throw new Error(`${label}: isComplete returned ${String(complete)}`);
  let ds: DicomDataset;
  try {
    ds = parseDicom(bytes);
  } catch (e) {
    if (!(e instanceof DicomParseError)) throw new Error(`${label}: parseDicom threw a non-DicomParseError: ${(e as Error)?.stack ?? e}`);
    if (e.reason === 'internal error') throw new Error(`${label}: internal error: ${e.message}`);
    if (!Number.isInteger(e.offset) || e.offset < 0) throw new Error(`${label}: bad error offset ${e.offset}`);
    if (complete) throw new Error(`${label}: isComplete true but parseDicom failed: ${e.message}`);
    stats.rejected++;
    stats.reasons[e.reason] = (stats.reasons[e.reason] ?? 0) + 1;
    return;
  }
  try {
    readAll(ds);
  } catch (e) {
    throw new Error(`${label}: reading a parsed dataset threw ${(e as Error)?.stack ?? e}`);
  }
  stats.parsed++;
}

/** Offsets where element headers start (the mutations' favourite targets). */
export function headerOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  const visit = (ds: DicomDataset) => {
    for (const e of ds.elements()) {
      out.push(e.headerOffset);
      for (const it of e.items ?? []) { out.push(it.headerOffset); visit(it); }
      if (e.fragments) for (const f of e.fragments) out.push(f.byteOffset - ds.bytes.byteOffset - 8);
    }
  };
  try { visit(parseDicom(bytes)); } catch { /* hostile seeds have no map */ }
  return out;
}

/** Seed files: generated ones always, the real mosaic when ../shared is present. */
const sampleFile = join(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/rtcloud-sample/001_000013_000001.dcm');

export function seeds(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const ts of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99']) {
    out.push({ name: `everyVr ${ts} undefined`, bytes: writeDicom(everyVr({ undefinedSeq: true }), { transferSyntaxUID: ts }) });
    out.push({ name: `everyVr ${ts} defined`, bytes: writeDicom(everyVr({ undefinedSeq: false }), { transferSyntaxUID: ts }) });
  }
  out.push({ name: 'bare implicit', bytes: writeDataSet(everyVr(), '1.2.840.10008.1.2') });
  out.push({
    name: 'encapsulated',
    bytes: writeDicom(
      [
        { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
        { tag: 'Rows', vr: 'US', value: 1 },
        { tag: 0x00291100, vr: 'UN', undefinedLength: true, value: [{ elements: [{ tag: 'PatientID', vr: 'LO', value: 'x' }] }] },
        { tag: 'PixelData', vr: 'OB', value: encapsulated([new Uint8Array(10), new Uint8Array(7)]) },
      ],
      { transferSyntaxUID: '1.2.840.10008.1.2.4.50' },
    ),
  });
  if (existsSync(sampleFile)) out.push({ name: 'real mosaic', bytes: new Uint8Array(readFileSync(sampleFile)) });
  return out;
}


export interface AnonFuzzStats { cases: number; accepted: number; rejected: number }

const fuzzUids = createUidMap({ secret: 'fuzz' });

/**
 * The anonymizer's contract on one input: a DicomParseError (nothing else), or an output that
 * parses and can be read whole; and the WebAssembly rewrite gives the bytes of the TypeScript
 * rewrite it replaced (test/reference), or both refuse the input.
 */
export function checkAnonymize(bytes: Uint8Array, stats: AnonFuzzStats, label: string): void {
  stats.cases++;
  let out: Uint8Array | undefined;
  let refused: unknown;
  try {
    out = anonymize(bytes, { uidMap: fuzzUids }).slice();
  } catch (e) {
    if (!(e instanceof DicomParseError)) throw new Error(`${label}: anonymize threw a non-DicomParseError: ${(e as Error)?.stack ?? e}`);
    refused = e;
  }
  let reference: Uint8Array | undefined;
  try {
    reference = referenceAnonymize(bytes, { uidMap: fuzzUids });
  } catch {
    // refused by the oracle too (or its own output re-parse check failed)
  }
  if (!out) {
    if (reference) throw new Error(`${label}: anonymize refused what the TypeScript rewrite accepted: ${(refused as Error).message}`);
    stats.rejected++;
    return;
  }
  try {
    readAll(parseDicom(out));
  } catch (e) {
    throw new Error(`${label}: anonymize accepted the input but its output does not parse: ${(e as Error)?.message ?? e}`);
  }
  if (!reference || !Buffer.from(out).equals(Buffer.from(reference))) {
    throw new Error(`${label}: the WebAssembly output differs from the TypeScript rewrite's (${reference ? `${out.length} vs ${reference.length} bytes` : 'which refused it'})`);
  }
  stats.accepted++;
}

const PYDICOM_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const NIBABEL_FILES = '/usr/lib/python3/dist-packages/nibabel/nicom/tests/data';

/**
 * Every corpus: the parser's seeds, the findings file in three encodings, a synthetic mosaic, and
 * when present pydicom's and nibabel's test files (up to `maxBytes` each) and the real mosaic.
 */
export function corpusSeeds(maxBytes = 60_000): { name: string; bytes: Uint8Array }[] {
  const out = seeds();
  for (const ts of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']) out.push({ name: `findings ${ts}`, bytes: writeDicom(findingsElements(3), { transferSyntaxUID: ts }) });
  out.push({ name: 'synthetic mosaic', bytes: syntheticEpiVolume(1, { tile: 16, slices: 9, seriesHeaderBytes: 2000 }) });
  for (const [dir, tag] of [[PYDICOM_FILES, 'pydicom'], [NIBABEL_FILES, 'nibabel']]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.dcm') || n.endsWith('.dcm.gz')).sort()) {
      let b = readFileSync(join(dir, f));
      if (f.endsWith('.gz')) b = gunzipSync(b);
      if (b.length <= maxBytes) out.push({ name: `${tag} ${f}`, bytes: new Uint8Array(b) });
    }
  }
  return out;
}
