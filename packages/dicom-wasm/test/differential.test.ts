// Differential test: the same files through dcmjs and dicom-parser must give the same tags, VRs,
// values (dcmjs) and offsets/lengths (dicom-parser), at every nesting level.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dcmjs from 'dcmjs';
import * as dicomParser from 'dicom-parser';
import { describe, expect, it } from 'vitest';
import { DicomDataset, parseDicom, writeDicom } from '../src/index.js';
import { syntheticEpiVolume } from '../src/synthetic.js';
import { everyVr } from './parse-fixtures.js';
import { readDicomParser } from './oracles.js';

for (const l of [dcmjs.log, dcmjs.log.getLogger('validation.dcmjs')]) l.setLevel('silent'); // its VR warnings are expected (it lacks OL/OV/SV)
const here = dirname(fileURLToPath(import.meta.url));
const sampleDir = join(here, '../../../../shared/data/rtcloud-sample');
const pydicomDir = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const haveSample = existsSync(sampleDir);
if (!haveSample) console.warn(`[dicom-wasm] ${sampleDir} absent: differential test runs on generated files only`);

type Norm = unknown;

function bytesOf(x: ArrayBuffer | ArrayBufferView): number[] {
  const u = x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  return Array.from(u);
}

function normMine(ds: DicomDataset): Record<string, { vr: string; value: Norm }> {
  const out: Record<string, { vr: string; value: Norm }> = {};
  for (const e of ds.elements()) {
    if (e.tag >>> 16 === 2) continue; // dcmjs keeps the meta group apart
    const v = e.value;
    let value: Norm;
    // dcmjs drops empty items
    if (Array.isArray(v) && v[0] instanceof DicomDataset) value = (v as DicomDataset[]).map(normMine).filter((d) => Object.keys(d).length);
    else if (e.items) value = [];
    else if (e.fragments) value = { bytes: e.fragments.flatMap(bytesOf) }; // dcmjs joins fragments into frames
    else if (v instanceof Uint8Array) value = { bytes: bytesOf(v) };
    else if (v === undefined || v === '') value = [];
    else value = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'bigint' ? x.toString() : typeof x === 'string' ? x.trim() : x));
    // dcmjs reads a value of only empty components ('\\') as no value
    if (Array.isArray(value) && value.every((x) => x === '')) value = [];
    out[e.tagHex] = { vr: e.vr, value };
  }
  return out;
}

function normDcmjs(dict: Record<string, { vr: string; Value?: unknown[] }>): Record<string, { vr: string; value: Norm }> {
  const out: Record<string, { vr: string; value: Norm }> = {};
  for (const [tag, el] of Object.entries(dict)) {
    const vals = el.Value ?? [];
    let value: Norm;
    if (el.vr === 'SQ') value = (vals as Record<string, { vr: string; Value?: unknown[] }>[]).map(normDcmjs).filter((d) => Object.keys(d).length);
    else if (vals[0] instanceof ArrayBuffer || ArrayBuffer.isView(vals[0])) {
      const all = (vals as ArrayBuffer[]).flatMap(bytesOf);
      value = { bytes: all };
    } else {
      value = vals.map((x) => {
        if (x && typeof x === 'object' && 'Alphabetic' in (x as object)) return (x as { Alphabetic: string }).Alphabetic;
        if (typeof x === 'bigint') return x.toString();
        if (typeof x === 'string') return x.trim();
        return x;
      });
      // dcmjs reads an empty DS/IS as [null] and an empty binary number as [0]
      if ((value as unknown[]).length === 1 && ((value as unknown[])[0] === '' || (value as unknown[])[0] === null)) value = [];
    }
    out[tag] = { vr: el.vr, value };
  }
  return out;
}

/** dcmjs cannot name some VRs in implicit VR files (it says UN and keeps bytes); compare bytes then. */
function reconcile(mine: Record<string, { vr: string; value: Norm }>, theirs: Record<string, { vr: string; value: Norm }>, bigEndian: boolean): void {
  for (const [tag, t] of Object.entries(theirs)) {
    const m = mine[tag];
    if (!m) continue;
    if (JSON.stringify(m.value) === '[]' && JSON.stringify(t.value) === '[0]') t.value = [];
    // text that is not a number: NaN here, no value in dcmjs
    if (Array.isArray(m.value) && m.value.some((x) => Number.isNaN(x)) && JSON.stringify(t.value) === '[]') m.value = [];
    // 'US or SS' attributes: we follow PixelRepresentation, dcmjs always says US
    if (t.vr === 'US' && m.vr === 'SS') m.vr = 'US';
    // stored as UN, decoded by the dictionary VR: dcmjs reports the dictionary VR
    if (m.vr === 'UN' && t.vr !== 'UN' && !(m.value as { bytes?: unknown }).bytes) m.vr = t.vr;
    if (t.vr === 'UN' && m.vr !== 'UN') {
      m.vr = 'UN';
      if (!(m.value as { bytes?: unknown }).bytes) delete mine[tag], delete theirs[tag];
    }
    // binary numeric data in big endian: dcmjs swaps words, we keep the stored bytes
    if (bigEndian && (m.value as { bytes?: unknown }).bytes && m.vr !== 'OB' && m.vr !== 'UN') {
      (m.value as { bytes: number[] }).bytes.sort();
      (t.value as { bytes: number[] }).bytes.sort();
    }
    if (Array.isArray(m.value) && Array.isArray(t.value) && m.value.length && typeof m.value[0] === 'object' && typeof t.value[0] === 'object') {
      (m.value as Record<string, { vr: string; value: Norm }>[]).forEach((item, i) =>
        reconcile(item, (t.value as Record<string, { vr: string; value: Norm }>[])[i] ?? {}, bigEndian));
    }
  }
}

function readDcmjs(bytes: Uint8Array) {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return dcmjs.data.DicomMessage.readFile(ab);
}

/** Offsets, lengths, VRs and item structure against dicom-parser, recursively. */
function compareStructure(ds: DicomDataset, theirs: dicomParser.DataSet, explicit: boolean): number {
  let n = 0;
  const seen = new Set<string>();
  for (const e of ds.elements()) {
    const key = 'x' + e.tagHex.toLowerCase();
    seen.add(key);
    const t = theirs.elements[key];
    expect(t, `${e.tagHex} missing in dicom-parser`).toBeDefined();
    expect(t.dataOffset, `${e.tagHex} value offset`).toBe(e.valueOffset);
    if (e.length >= 0) expect(t.length, `${e.tagHex} length`).toBe(e.length);
    if (explicit || e.tag >>> 16 === 2) expect(t.vr, `${e.tagHex} VR`).toBe(e.vr);
    if (e.items) {
      expect(t.items?.length ?? 0, `${e.tagHex} items`).toBe(e.items.length);
      e.items.forEach((item, i) => (n += compareStructure(item, t.items![i].dataSet!, explicit)));
    }
    if (e.fragments) {
      expect(t.fragments?.length).toBe(e.fragments.length);
      t.fragments!.forEach((f, i) => expect(f.position).toBe(e.fragments![i].byteOffset - ds.bytes.byteOffset));
    }
    if (['AE', 'AS', 'CS', 'DA', 'DT', 'LO', 'SH', 'TM', 'UI'].includes(e.vr) && !(e.tag >>> 16 & 1)) {
      const mine = e.value;
      expect(theirs.string(key) ?? '', `${e.tagHex} text`).toBe(Array.isArray(mine) ? mine.join('\\') : mine);
    }
    n++;
  }
  // dicom-parser lists item delimiters (and, after deflated data, a zero padding tag) as elements
  for (const k of Object.keys(theirs.elements)) if (!/^x(fffe|0000)/.test(k)) expect(seen.has(k), `${k} only in dicom-parser`).toBe(true);
  return n;
}

function differential(bytes: Uint8Array, opts: { dicomParser?: boolean; ignore?: string[] } = {}): void {
  const ds = parseDicom(bytes);
  const file = readDcmjs(bytes);
  const theirs = normDcmjs(file.dict);
  const mine = normMine(ds);
  const bigEndian = ds.transferSyntaxUID === '1.2.840.10008.1.2.2';
  // dcmjs converts text to UTF-8 and rewrites SpecificCharacterSet to say so
  for (const tag of ['00080005', ...(opts.ignore ?? [])]) {
    delete theirs[tag];
    delete mine[tag];
  }
  reconcile(mine, theirs, bigEndian);
  expect(Object.keys(mine).sort()).toEqual(Object.keys(theirs).sort());
  const diffs: string[] = [];
  for (const tag of Object.keys(theirs)) {
    if (JSON.stringify(mine[tag]) !== JSON.stringify(theirs[tag])) diffs.push(`${tag}: ours ${JSON.stringify(mine[tag]).slice(0, 300)} dcmjs ${JSON.stringify(theirs[tag]).slice(0, 300)}`);
  }
  if (diffs.length) throw new Error(`differs from dcmjs:\n${diffs.join('\n')}`);
  expect(ds.get('TransferSyntaxUID')).toBe(file.meta['00020010'].Value[0]);
  // dicom-parser's inflater hook leaves its offsets in a buffer of its own: compare deflated files with dcmjs only
  if (opts.dicomParser !== false && ds.transferSyntaxUID !== '1.2.840.10008.1.2.1.99') {
    // dicom-parser reads offsets in the inflated buffer for deflated files, as we do
    const p = readDicomParser(bytes);
    expect(compareStructure(ds, p, ds.transferSyntaxUID !== '1.2.840.10008.1.2')).toBeGreaterThan(5);
  }
}

describe.skipIf(!haveSample)('differential: real Siemens mosaics vs dcmjs and dicom-parser', () => {
  const files = haveSample ? readdirSync(sampleDir).filter((f) => /^001_.*\.dcm$/.test(f)).sort() : [];
  for (const f of files) it(f, () => differential(readFileSync(join(sampleDir, f))));
});

describe('differential: generated files vs dcmjs and dicom-parser', () => {
  for (const ts of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99']) {
    for (const undefinedSeq of [true, false]) {
      it(`every VR, ${ts}, ${undefinedSeq ? 'undefined' : 'defined'}-length sequences`, () => {
        // dicom-parser 1.8 predates OV/SV/UV (it reads their lengths as 2 bytes): dcmjs only there
        const els = everyVr({ undefinedSeq });
        differential(writeDicom(els, { transferSyntaxUID: ts }), { dicomParser: false });
        differential(writeDicom(els.filter((e) => !['OV', 'SV', 'UV'].includes(e.vr)), { transferSyntaxUID: ts }));
      });
    }
  }
  it('synthetic EPI mosaic (writer + CSA)', () => differential(syntheticEpiVolume(2)));
});

describe.skipIf(!existsSync(pydicomDir))('differential: pydicom test files (when python3-pydicom is installed)', () => {
  const files = existsSync(pydicomDir) ? readdirSync(pydicomDir).filter((f) => f.endsWith('.dcm')) : [];
  it('every pydicom file dcmjs reads, we read the same way', () => {
    let compared = 0;
    const failures: string[] = [];
    for (const f of files) {
      if (f === 'MR_truncated.dcm') continue; // dcmjs reads what is there; we refuse it (isComplete test)
      const bytes = readFileSync(join(pydicomDir, f));
      try { if (Object.keys(readDcmjs(bytes).dict).length < 3) continue; } catch { continue; } // the oracle must read it first
      // dcmjs reads the items of this UN-stored sequence as empty; we (and pydicom) read their contents
      const ignore = f.startsWith('rtdose_rle') ? ['300C0002'] : [];
      try { differential(bytes, { dicomParser: false, ignore }); compared++; } catch (e) { failures.push(`${f}: ${(e as Error).message.slice(0, 1500)}`); }
    }
    console.log(`[dicom-wasm] pydicom differential: ${compared} files agree, ${failures.length} differ`);
    if (process.env.DIFF_VERBOSE) console.log(failures.join('\n'));
    expect(failures).toEqual([]);
  });
});
