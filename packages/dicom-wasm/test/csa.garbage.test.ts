// The CSA filter copies only what the allow-list keeps, and of that only the bytes a reader reads:
// each name and VR field up to its NUL, each item's text up to and including its NUL, the
// numbers. Siemens leaves uninitialised memory after the NULs (issue 12: the station name with the
// device serial, 'MRC35119', in the name fields of two mosaics); none of it may survive.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { anonymize } from '../src/anonymize/index.js';
import { SAFE_CSA_ELEMENTS } from '../src/anonymize/profile.js';
import { createUidMap } from '../src/anonymize/uid-map.js';
import { csaValues, filterCsaHeader, parseCsaHeader } from '../src/csa.js';
import { csaViaCore } from './csa-via-core.js';
import { parseDicom } from '../src/dataset.js';
import { mosaicToVolume, sliceTimingOf } from '../src/mosaic.js';
import { syntheticEpiElements } from '../src/synthetic.js';
import { EXPLICIT_VR_LE } from '../src/transfer-syntax.js';
import { writeDicom } from '../src/writer.js';
import { rng } from './fuzz-lib.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const haveSample = existsSync(SAMPLE + '001_000013_000001.dcm');
const PY = '/usr/bin/python3';
const haveNibabel = spawnSync(PY, ['-c', 'import nibabel.nicom.dicomwrappers, pydicom']).status === 0;
const haveDcm2niix = spawnSync('dcm2niix', ['-v']).error === undefined;
if (!haveNibabel) console.warn('csa.garbage.test: python3-nibabel/python3-pydicom missing (apt-get install python3-nibabel python3-pydicom): skipping the nibabel check');
if (!haveDcm2niix) console.warn('csa.garbage.test: dcm2niix missing (apt-get install dcm2niix): skipping the dcm2niix check');

interface Tag { name: string; vr: string; vm: number; items: string[]; slack?: number }

const GARBAGE = new TextEncoder().encode('MRC35119');

/**
 * An SV10 header. `dirty`: garbage after every NUL (name and VR fields, item texts with `slack`
 * spare bytes, padding) and odd check words; clean: zeros there and Siemens's check words.
 */
function sv10(tags: Tag[], dirty: boolean): Uint8Array {
  const enc = new TextEncoder();
  let size = 16;
  for (const t of tags) {
    size += 84;
    for (const it of t.items) size += 16 + ((enc.encode(it).length + 1 + (t.slack ?? 0) + 3) & ~3);
  }
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  const fill = (o: number, n: number) => { if (dirty) for (let i = 0; i < n; i++) b[o + i] = GARBAGE[i % GARBAGE.length]; };
  b.set(enc.encode('SV10'));
  b.set([4, 3, 2, 1], 4);
  dv.setUint32(8, tags.length, true);
  dv.setUint32(12, 77, true);
  let o = 16;
  for (const t of tags) {
    const name = enc.encode(t.name);
    fill(o, 64);
    b.set(name, o);
    b[o + name.length] = 0;
    fill(o + 68, 4);
    b.set(enc.encode(t.vr), o + 68);
    b[o + 68 + t.vr.length] = 0;
    dv.setInt32(o + 64, t.vm, true);
    dv.setInt32(o + 72, 6, true);
    dv.setInt32(o + 76, t.items.length, true);
    dv.setInt32(o + 80, dirty ? 0x4d524333 : t.items.length > 0 ? 77 : 205, true);
    o += 84;
    for (const it of t.items) {
      const text = enc.encode(it);
      const len = text.length + 1 + (t.slack ?? 0);
      dv.setInt32(o, dirty ? 0x35313139 : len, true);
      dv.setInt32(o + 4, len, true);
      dv.setInt32(o + 8, dirty ? 0x12345678 : 77, true);
      dv.setInt32(o + 12, dirty ? -1 : len, true);
      o += 16;
      fill(o, (len + 3) & ~3);
      b.set(text, o);
      b[o + text.length] = 0;
      o += (len + 3) & ~3;
    }
  }
  return b;
}

const TAGS: Tag[] = [
  { name: 'EchoLinePosition', vr: 'IS', vm: 1, items: ['32'] },
  { name: 'ImaCoilString', vr: 'LO', vm: 1, items: ['HeadNeck_20 MRC35119'] },
  { name: 'NumberOfImagesInMosaic', vr: 'US', vm: 1, items: ['9'], slack: 9 },
  { name: 'SliceMeasurementDuration', vr: 'DS', vm: 1, items: ['40.0'], slack: 3 },
  { name: 'AcquisitionMatrixText', vr: 'SH', vm: 1, items: ['64p*64'], slack: 6 },
  { name: 'MosaicRefAcqTimes', vr: 'FD', vm: 0, items: ['0.0', '750.0', '80.0', '830.0', '162.5', '912.5', '242.5', '992.5', '322.5'], slack: 2 },
  { name: 'ImaPATModeText', vr: 'LO', vm: 1, items: [] },
  { name: 'UsedChannelString', vr: 'UT', vm: 1, items: ['XXXXXXXX'] },
];

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

/** Every byte after a NUL in a kept name/VR field or item text is zero (SV10). */
function onlyTextSurvives(h: Uint8Array): void {
  const dv = new DataView(h.buffer, h.byteOffset, h.length);
  expect(latin1(h.subarray(0, 4))).toBe('SV10');
  const n = dv.getUint32(8, true);
  let p = 16;
  const afterNul = (o: number, len: number) => {
    const z = h.subarray(o, o + len).indexOf(0);
    if (z >= 0) expect(h.subarray(o + z, o + len).every((x) => x === 0)).toBe(true);
  };
  for (let t = 0; t < n; t++) {
    afterNul(p, 64);
    afterNul(p + 68, 4);
    const items = dv.getInt32(p + 76, true);
    expect(dv.getInt32(p + 80, true)).toBe(items > 0 ? 77 : 205);
    p += 84;
    for (let i = 0; i < items; i++) {
      const len = dv.getInt32(p + 4, true);
      expect([dv.getInt32(p, true), dv.getInt32(p + 8, true), dv.getInt32(p + 12, true)]).toEqual([len, len > 0 ? 77 : 205, len]);
      p += 16;
      afterNul(p, (len + 3) & ~3);
      const z = h.subarray(p, p + len).indexOf(0);
      if (z >= 0) expect(h.subarray(p + z, p + ((len + 3) & ~3)).every((x) => x === 0)).toBe(true);
      else expect(h.subarray(p + len, p + ((len + 3) & ~3)).every((x) => x === 0)).toBe(true);
      p += (len + 3) & ~3;
    }
  }
}

describe('CSA filter: nothing after a NUL survives', () => {
  const keep = new Set(SAFE_CSA_ELEMENTS);

  it('gives for a header full of garbage exactly what it gives for the clean header', () => {
    const dirty = sv10(TAGS, true);
    const clean = sv10(TAGS, false);
    expect(latin1(dirty)).toContain('MRC35119');
    const fd = filterCsaHeader(dirty, keep);
    expect(latin1(fd)).not.toContain('MRC35');
    expect(latin1(fd)).not.toContain('3511');
    expect(Buffer.from(fd).equals(Buffer.from(filterCsaHeader(clean, keep)))).toBe(true);
    onlyTextSurvives(fd);
    const h = parseCsaHeader(fd);
    expect([...h.elements.keys()]).toEqual(['EchoLinePosition', 'NumberOfImagesInMosaic', 'SliceMeasurementDuration', 'AcquisitionMatrixText', 'MosaicRefAcqTimes', 'ImaPATModeText']);
    expect(csaValues(h, 'NumberOfImagesInMosaic')).toEqual([9]);
    expect(csaValues(h, 'MosaicRefAcqTimes')).toEqual([0, 750, 80, 830, 162.5, 912.5, 242.5, 992.5, 322.5]);
    expect(csaValues(h, 'AcquisitionMatrixText')).toEqual(['64p*64']);
  });

  it('the WebAssembly filter agrees with filterCsaHeader while garbage and values change from call to call', () => {
    const rand = rng(77);
    const base = sv10(TAGS, true);
    for (let k = 0; k < 300; k++) {
      const b = base.slice();
      // change random bytes: garbage after NULs (ignored), value digits (patched), NULs (filtered again)
      for (let j = 0; j < 1 + Math.floor(rand() * 4); j++) {
        const at = 16 + Math.floor(rand() * (b.length - 16));
        const v = rand() < 0.2 ? 0 : 0x30 + Math.floor(rand() * 10);
        b[at] = v;
      }
      let want: Uint8Array | Error;
      try { want = filterCsaHeader(b, keep); } catch (e) { want = e as Error; }
      const got = csaViaCore(b, keep);
      if (want instanceof Error || want.length === 0) { expect(got, `case ${k}`).toBeNull(); continue; }
      const padded = want.length & 1 ? Uint8Array.from([...want, 0]) : want;
      expect(got !== null && Buffer.from(got).equals(Buffer.from(padded)), `case ${k}`).toBe(true);
      onlyTextSurvives(want);
    }
  });

  it('keeps a mosaic readable after anonymization: mosaicToVolume and slice timing', () => {
    const els = syntheticEpiElements(2, { tile: 16, slices: 9, seriesHeaderBytes: 300 });
    const csa = els.find((e) => e.tag === 0x00291010)!;
    csa.value = sv10(TAGS, true);
    const input = writeDicom(els, { transferSyntaxUID: EXPLICIT_VR_LE });
    const out = anonymize(input, { uidMap: createUidMap({ secret: 'csa' }) });
    expect(latin1(out)).not.toContain('MRC35119');
    const before = mosaicToVolume(input);
    const after = mosaicToVolume(out);
    expect([after.slices, after.rows, after.cols]).toEqual([9, 16, 16]);
    expect(after.sliceTimes).toEqual([0, 750, 80, 830, 162.5, 912.5, 242.5, 992.5, 322.5]);
    expect(Buffer.from(after.data.buffer).equals(Buffer.from(before.data.buffer))).toBe(true);
    expect(sliceTimingOf(parseDicom(out))).toEqual(after.sliceTimes);
  });

  it.skipIf(!haveSample)('leaves nothing after the NULs of the real Skyra headers (skipped without ../shared)', () => {
    const uidMap = createUidMap({ secret: 'csa-real' });
    for (const f of readdirSync(SAMPLE).filter((n) => /^001_.*\.dcm$/.test(n))) {
      const input = new Uint8Array(readFileSync(SAMPLE + f));
      const o = parseDicom(input);
      const raw = o.get(0x00291010) as Uint8Array;
      // the input does carry bytes after the NULs of its name fields
      let dirtyNames = 0;
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
      for (let t = 0, p = 16; t < dv.getUint32(8, true); t++) {
        const z = raw.subarray(p, p + 64).indexOf(0);
        if (raw.subarray(p + z, p + 64).some((x) => x !== 0)) dirtyNames++;
        p += 84;
        for (let i = 0, n = dv.getInt32(p - 8, true); i < n; i++) p += 16 + ((dv.getInt32(p + 4, true) + 3) & ~3);
      }
      expect(dirtyNames, f).toBeGreaterThan(50);
      const a = parseDicom(anonymize(input, { uidMap }));
      const kept = a.get(0x00291010) as Uint8Array;
      onlyTextSurvives(kept);
      const h = parseCsaHeader(kept);
      const before = parseCsaHeader(raw);
      for (const [name, el] of h.elements) expect(el.values, name).toEqual(before.elements.get(name)!.values);
      expect(mosaicToVolume(a).sliceTimes).toEqual(mosaicToVolume(o).sliceTimes);
    }
  });

  it.skipIf(!haveNibabel)("nibabel's CSA reader reads the filtered headers (skipped without python3-nibabel)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-csa-'));
    try {
      const els = syntheticEpiElements(2, { tile: 16, slices: 9, seriesHeaderBytes: 300 });
      els.find((e) => e.tag === 0x00291010)!.value = sv10(TAGS, true);
      const files: Uint8Array[] = [anonymize(writeDicom(els, { transferSyntaxUID: EXPLICIT_VR_LE }))];
      if (haveSample) files.push(anonymize(new Uint8Array(readFileSync(SAMPLE + '001_000013_000002.dcm'))));
      const paths = files.map((b, i) => {
        const p = join(dir, `${i}.dcm`);
        writeFileSync(p, b);
        return p;
      });
      const script = [
        'import sys, json, warnings', 'warnings.simplefilter("ignore")',
        'import pydicom, nibabel.nicom.dicomwrappers as dw, nibabel.nicom.csareader as csar',
        'out = []',
        'for f in sys.argv[1:]:',
        '    d = pydicom.dcmread(f); h = csar.get_csa_header(d); w = dw.wrapper_from_data(d)',
        '    out.append({"n": int(csar.get_n_mosaic(h)), "shape": list(w.get_data().shape), "names": sorted(h["tags"].keys()),',
        '                "times": [float(x) for x in h["tags"]["MosaicRefAcqTimes"]["items"]]})',
        'print(json.dumps(out))',
      ].join('\n');
      const res = JSON.parse(execFileSync(PY, ['-c', script, ...paths], { encoding: 'utf8' }));
      expect(res[0].n).toBe(9);
      expect(res[0].shape).toEqual([16, 16, 9]);
      expect(res[0].times).toEqual([0, 750, 80, 830, 162.5, 912.5, 242.5, 992.5, 322.5]);
      for (const r of res) for (const n of r.names) expect(SAFE_CSA_ELEMENTS).toContain(n);
      if (haveSample) {
        expect(res[1].shape).toEqual([64, 64, 27]);
        expect(res[1].times).toEqual(mosaicToVolume(files[1]).sliceTimes);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!haveDcm2niix || !haveSample)('dcm2niix converts the anonymized real run with its slice timing (skipped without dcm2niix or ../shared)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-d2n-'));
    try {
      const uidMap = createUidMap({ secret: 'd2n' });
      const names = readdirSync(SAMPLE).filter((n) => /^001_000013_0000(0[1-9]|10)\.dcm$/.test(n)).sort();
      for (const n of names) writeFileSync(join(dir, n), anonymize(new Uint8Array(readFileSync(SAMPLE + n)), { uidMap }));
      execFileSync('dcm2niix', ['-b', 'y', '-z', 'n', '-f', 'run', '-o', dir, dir], { encoding: 'utf8' });
      const meta = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
      const expected = sliceTimingOf(parseDicom(new Uint8Array(readFileSync(SAMPLE + names[0]))))!.map((t) => t / 1000);
      expect(meta.SliceTiming.map((t: number) => Math.round(t * 1e4))).toEqual(expected.map((t) => Math.round(t * 1e4)));
      expect(meta.RepetitionTime).toBe(1.5);
      const nii = readFileSync(join(dir, 'run.nii'));
      const dims = [1, 2, 3, 4].map((i) => nii.readInt16LE(40 + 2 * i));
      expect(dims).toEqual([64, 64, 27, names.length]);
      expect(JSON.stringify(meta)).not.toMatch(/45031|AWP|Princeton/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
