// Parses every file of the real Siemens sample run and checks values the sample's README states.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DicomDataset, DicomParseError, isComplete, parseDicom, ready } from '../src/index.js';

const sampleDir = join(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/rtcloud-sample');
const have = existsSync(sampleDir);
if (!have) console.warn(`[dicom-wasm] ${sampleDir} absent: skipping real-file tests (synthetic tests still run)`);
const volumes = have ? readdirSync(sampleDir).filter((f) => /^001_000013_0000\d\d\.dcm$/.test(f)).sort() : [];

function acquisitionTime(nn: number): string {
  // README: 12:47:50.3275 + 1.5 s x (NN-1), as DICOM TM HHMMSS.FFFFFF
  const t = 12 * 3600 + 47 * 60 + 50.3275 + 1.5 * (nn - 1);
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
  return `${String(h).padStart(2, '0')}${String(m).padStart(2, '0')}${s.toFixed(6).padStart(9, '0')}`;
}

describe.skipIf(!have)('real Siemens mosaics (rtcloud-sample)', () => {
  beforeAll(() => ready());

  it('finds the 11 volumes', () => {
    expect(volumes.length).toBe(11);
  });

  for (const f of volumes) {
    it(`parses ${f}`, () => {
      const bytes = readFileSync(join(sampleDir, f));
      const nn = Number(f.slice(-6, -4)) || 10; // 000000 is a copy of volume 10
      const ds = parseDicom(bytes);
      expect(ds.transferSyntaxUID).toBe('1.2.840.10008.1.2.1');
      expect(ds.get('InstanceNumber')).toBe(nn);
      expect(ds.get('AcquisitionTime')).toBe(acquisitionTime(nn));
      expect(ds.get('RepetitionTime')).toBe(1500);
      expect(ds.get('Rows')).toBe(384);
      expect(ds.get('00280011')).toBe(384);
      expect(ds.get('(0028,0100)')).toBe(16);
      expect(ds.get(0x00100010)).toBe('0219191_greenEyes');
      expect(ds.get('ImageType')).toEqual(['ORIGINAL', 'PRIMARY', 'M', 'ND', 'NORM', 'MOSAIC']);
      const px = ds.pixelData();
      expect(px).toBeInstanceOf(Uint16Array);
      expect((px as Uint16Array).length).toBe(384 * 384);
      // a view on the caller's bytes, not a copy
      expect((px as Uint16Array).buffer).toBe(bytes.buffer);
      const seq = ds.get('SourceImageSequence') as DicomDataset[];
      expect(seq.length).toBe(27);
      expect(String(seq[0].get('ReferencedSOPClassUID'))).toBe('1.2.840.10008.5.1.4.1.1.4');
      const csa = ds.element('00291020')!;
      expect(csa.isPrivate).toBe(true);
      expect(csa.vr).toBe('OB');
      expect(ds.get('00290010')).toBe('SIEMENS CSA HEADER');
      expect(isComplete(bytes)).toBe(true);
    });
  }

  it('the truncated file is incomplete and fails with an offset', () => {
    const bytes = readFileSync(join(sampleDir, 'trunc_001_000013_000005.dcm'));
    expect(bytes.length).toBe(307200);
    expect(isComplete(bytes)).toBe(false);
    let err: unknown;
    try { parseDicom(bytes); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DicomParseError);
    expect((err as DicomParseError).offset).toBe(162106); // the PixelData header
    expect((err as DicomParseError).reason).toBe('value extends past end of data');
  });
});
