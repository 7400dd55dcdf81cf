// Each anonymized volume a stream delivers carries its own values. The runtime reads every file into
// one reused scratch Buffer (per thread) and anonymizes it there; dicom-wasm's caches once kept
// views of that memory (Node's Buffer#slice() is no copy), and a stream delivered the Siemens CSA
// header (TimeAfterStart, ...) of an earlier volume with later ones, on both routes. Compared here
// with the CSA header of each file filtered on its own (dicom-wasm's filterCsaHeader, no cache).
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as dicom from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { filterCsaHeader } from '@rtfmri/dicom-wasm/writer';
import { DataInterface } from '../src/index.js';
import { rmrf, sampleDir, tmpDir } from './util.js';

const SAMPLE = sampleDir();
const KEEP = new Set(dicom.DEFAULT_PROFILE.csaKeep);

function csaOf(bytes: Uint8Array): Uint8Array {
  const e = dicom.parseDicom(bytes).element(0x00291010)!;
  return bytes.subarray(e.valueOffset, e.valueOffset + e.length);
}

const open: DataInterface[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const di of open.splice(0)) await di.close();
  for (const d of dirs.splice(0)) rmrf(d);
});

async function expectOwnCsa(dir: string, pattern: (i: number) => string, order: number[], work: 'inline' | 'pool'): Promise<void> {
  const di = new DataInterface({ allowedDirs: [dir], allowedFileTypes: ['.dcm'], work, log: () => {} });
  open.push(di);
  const id = await di.initScannerStream(dir, pattern(0).replace(/\d+(?=\.dcm$)/, (d) => `{TR:0${d.length}d}`), 0, true);
  for (const [k, i] of order.entries()) {
    const got = (await di.getImageData(id, i)).toBytes();
    const want = filterCsaHeader(csaOf(new Uint8Array(fs.readFileSync(path.join(dir, pattern(i))))), KEEP);
    const have = csaOf(got);
    expect(dicom.csaValues(dicom.parseCsaHeader(have), 'TimeAfterStart'), `call ${k}: volume ${i}`).toEqual(dicom.csaValues(dicom.parseCsaHeader(want), 'TimeAfterStart'));
    expect(Buffer.compare(have, want), `call ${k}: volume ${i}`).toBe(0);
  }
}

describe('a stream delivers each volume with its own CSA header values', () => {
  for (const work of ['inline', 'pool'] as const) {
    it(`synthetic run (work: ${work})`, async () => {
      const dir = tmpDir();
      dirs.push(dir);
      const name = (i: number) => `vol_${String(i).padStart(3, '0')}.dcm`;
      for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(dir, name(i)), syntheticEpiVolume(i, { tile: 32, slices: 9, seriesHeaderBytes: 3000 }));
      await expectOwnCsa(dir, name, [0, 1, 2, 3, 4, 5, 6, 7, 3, 3, 0, 6], work);
    });

    it.skipIf(!SAMPLE)(`the real sample's volumes 0..10 (work: ${work}; skipped without ../shared)`, async () => {
      const name = (i: number) => `001_000013_${String(i).padStart(6, '0')}.dcm`;
      await expectOwnCsa(SAMPLE!, name, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5, 2, 7, 8], work);
    });
  }
});
