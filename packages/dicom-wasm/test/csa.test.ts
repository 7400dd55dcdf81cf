import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import dicomParser from 'dicom-parser';
import { CsaParseError, csaValues, filterCsaHeader, isCsaHeader, parseCsaHeader, writeCsaHeader } from '../src/csa.js';
import { csaViaCore } from './csa-via-core.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const haveSample = existsSync(SAMPLE + '001_000013_000001.dcm');
if (!haveSample) console.warn(`csa.test: ${SAMPLE} absent, skipping the real-file checks`);

function csaOf(file: string, element: string): Uint8Array {
  const bytes = new Uint8Array(readFileSync(SAMPLE + file));
  const ds = dicomParser.parseDicom(bytes);
  const el = ds.elements[element];
  return bytes.subarray(el.dataOffset, el.dataOffset + el.length);
}

describe('CSA header', () => {
  it.skipIf(!haveSample)('reads the real Skyra image header (SV10): 27 slices in the mosaic and their times', () => {
    const h = parseCsaHeader(csaOf('001_000013_000001.dcm', 'x00291010'));
    expect(h.format).toBe('SV10');
    expect(h.elements.size).toBe(101);
    expect(csaValues(h, 'NumberOfImagesInMosaic')).toEqual([27]);
    expect(csaValues(h, 'AcquisitionMatrixText')).toEqual(['64*64']);
    const times = csaValues(h, 'MosaicRefAcqTimes') as number[];
    expect(times).toHaveLength(27);
    expect(times[0]).toBe(0);
    expect(times[1]).toBeCloseTo(765, 6);
    expect(times[2]).toBeCloseTo(52.5, 6);
    expect(csaValues(h, 'SliceNormalVector')).toEqual([-0.02321452, -0.11461213, 0.99313904]);
    expect(csaValues(h, 'UsedChannelMask')).toBeUndefined();
  });

  it.skipIf(!haveSample)('reads the real series header with its protocol text', () => {
    const h = parseCsaHeader(csaOf('001_000013_000001.dcm', 'x00291020'));
    expect(h.format).toBe('SV10');
    expect(String(csaValues(h, 'MrPhoenixProtocol')![0])).toContain('<XProtocol>');
  });

  it.skipIf(!haveSample)('filters the real header to a kept set whose values are unchanged', () => {
    const raw = csaOf('001_000013_000001.dcm', 'x00291010');
    const keep = new Set(['NumberOfImagesInMosaic', 'MosaicRefAcqTimes', 'SliceNormalVector']);
    const filtered = filterCsaHeader(raw, keep);
    expect(filtered.length).toBeLessThan(raw.length / 4);
    const a = parseCsaHeader(raw);
    const b = parseCsaHeader(filtered);
    expect([...b.elements.keys()]).toEqual(['NumberOfImagesInMosaic', 'SliceNormalVector', 'MosaicRefAcqTimes']);
    for (const name of keep) expect(b.elements.get(name)).toEqual(a.elements.get(name));
  });

  /**
   * The core's filter (anonymize's C pass) must give what filterCsaHeader gives; where that throws
   * CsaParseError or keeps nothing, anonymize removes the element.
   */
  function sameAsFilter(input: Uint8Array, keep: ReadonlySet<string>): void {
    let want: Uint8Array | null;
    try {
      want = filterCsaHeader(input, keep);
      if (want.length === 0) want = null;
    } catch (e) {
      expect(e).toBeInstanceOf(CsaParseError);
      want = null;
    }
    const got = csaViaCore(input, keep);
    if (want === null) expect(got).toBeNull();
    else expect(got).toEqual(want.length & 1 ? Uint8Array.from([...want, 0]) : want);
  }

  it('the WebAssembly filter gives filterCsaHeader\'s bytes for mutated headers, one after another', () => {
    const keep = new Set(['NumberOfImagesInMosaic', 'MosaicRefAcqTimes', 'TimeAfterStart']);
    const good = writeCsaHeader([
      { name: 'NumberOfImagesInMosaic', vr: 'US', values: [36] },
      { name: 'ImaCoilString', vr: 'LO', values: ['HEA;HEP'] },
      { name: 'TimeAfterStart', vr: 'DS', values: [1.5] },
      { name: 'MosaicRefAcqTimes', vr: 'FD', vm: 0, values: [0, 41.5, 83] },
    ]);
    let seed = 777;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let prev = good;
    for (let k = 0; k < 2000; k++) {
      // mostly small edits of the previous input (as from volume to volume), sometimes a fresh start
      const bad = k % 50 === 0 ? good.slice() : prev.slice();
      for (let j = 0; j < 1 + (k % 3); j++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
      sameAsFilter(bad, keep);
      // and the same bytes again (the memo must not have been corrupted by the patching)
      sameAsFilter(bad, keep);
      prev = bad;
    }
    const times = writeCsaHeader([{ name: 'TimeAfterStart', vr: 'DS', values: [3] }, { name: 'ImaCoilString', vr: 'LO', values: ['HEA'] }]);
    sameAsFilter(times, keep);
    times[times.length - 8] ^= 1; // a value byte of the dropped element
    sameAsFilter(times, keep);
  });

  it.skipIf(!haveSample)('gives the same filtered header as filterCsaHeader for each volume of the real run in turn', () => {
    const keep = new Set(['NumberOfImagesInMosaic', 'MosaicRefAcqTimes', 'TimeAfterStart', 'SliceNormalVector']);
    for (const v of [1, 2, 3, 2, 4]) {
      const raw = csaOf(`001_000013_00000${v}.dcm`, 'x00291010');
      sameAsFilter(raw, keep);
      expect(csaValues(parseCsaHeader(csaViaCore(raw, keep)!), 'TimeAfterStart')).toEqual(csaValues(parseCsaHeader(raw), 'TimeAfterStart'));
    }
  });

  for (const format of ['SV10', 'CSA1'] as const) {
    it(`round-trips what it writes (${format})`, () => {
      const bytes = writeCsaHeader(
        [
          { name: 'NumberOfImagesInMosaic', vr: 'US', values: [36] },
          { name: 'AcquisitionMatrixText', vr: 'SH', values: ['64*64'] },
          { name: 'SliceNormalVector', vr: 'FD', values: [0, 0.5, -1] },
          { name: 'MosaicRefAcqTimes', vr: 'FD', vm: 0, values: [0, 41.5, 83, 124.5] },
          { name: 'ImaCoilString', vr: 'LO', values: ['HEA;HEP'] },
        ],
        { format },
      );
      expect(isCsaHeader(bytes)).toBe(true);
      const h = parseCsaHeader(bytes);
      expect(h.format).toBe(format);
      expect(csaValues(h, 'NumberOfImagesInMosaic')).toEqual([36]);
      expect(csaValues(h, 'AcquisitionMatrixText')).toEqual(['64*64']);
      expect(csaValues(h, 'SliceNormalVector')).toEqual([0, 0.5, -1]);
      expect(csaValues(h, 'MosaicRefAcqTimes')).toEqual([0, 41.5, 83, 124.5]);
      expect(csaValues(h, 'ImaCoilString')).toEqual(['HEA;HEP']);
      expect(h.elements.get('NumberOfImagesInMosaic')!.items).toHaveLength(6);
    });
  }

  it('rejects malformed headers with CsaParseError only (truncations and byte flips)', () => {
    const good = writeCsaHeader([
      { name: 'NumberOfImagesInMosaic', vr: 'US', values: [36] },
      { name: 'MosaicRefAcqTimes', vr: 'FD', vm: 0, values: [0, 41.5, 83] },
    ]);
    let errors = 0;
    for (let cut = 0; cut < good.length; cut++) {
      try {
        parseCsaHeader(good.subarray(0, cut));
      } catch (e) {
        expect(e).toBeInstanceOf(CsaParseError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(good.length / 2);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let k = 0; k < 3000; k++) {
      const bad = good.slice();
      for (let j = 0; j < 4; j++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
      try {
        parseCsaHeader(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(CsaParseError);
      }
    }
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(8, 0x7fffffff, true);
    expect(() => parseCsaHeader(huge)).toThrow(/tag count/);
  });
});
