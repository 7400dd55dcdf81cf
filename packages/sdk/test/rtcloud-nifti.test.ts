// rt-cloud's reorientation path (imageHandling.getAxesForTransform, getTransform, saveAsNiftiImage),
// which rt-cloud has no test for: checked against nibabel doing what rt-cloud's code does
// (mosaic_to_nii(...).get_fdata(), apply_orientation(data, transform); nilearn's new_img_like only
// copies the reference's header and affine) and against the geometry: a reference BOLD converted
// from the same session puts the reoriented voxels exactly where dcm2niix's conversion puts them.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDicom } from '@rtfmri/dicom-wasm';
import {
  convertDicomFileToNifti, convertDicomImgToNifti, getAxesForTransform, getTransform, readDicomFromFile, readNifti,
  saveAsNiftiImage, writeDicomFile,
} from '../src/index.js';
import { ORIENTATIONS, SAMPLE_DIR, haveNibabel, haveSample, py, syntheticMosaic } from './nifti-oracles.js';
import { rmrf, tmpDir } from './util.js';

const work = tmpDir('rtfmri-rtcloud-nii-');
afterAll(() => rmrf(work));

interface Run { label: string; ref: string; vol: string; axes: [string[], string[]] }
const runs: Run[] = [];
if (haveSample) {
  runs.push({ label: 'sample run', ref: path.join(SAMPLE_DIR, '001_000013_000005.dcm'), vol: path.join(SAMPLE_DIR, '001_000013_000007.dcm'), axes: [['L', 'A', 'S'], ['P', 'L', 'S']] });
} else {
  console.warn(`rtcloud-nifti: sample run skipped (${SAMPLE_DIR} is absent)`);
}
for (const [name, axes] of [['sagittal', [['P', 'S', 'R'], ['I', 'P', 'R']]], ['oblique (real run)', [['L', 'A', 'S'], ['P', 'L', 'S']]]] as const) {
  const dir = path.join(work, name.replace(/\W+/g, '_'));
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'ref.dcm'), syntheticMosaic(ORIENTATIONS[name], { slices: 20, seriesHeaderBytes: 100 }, 0));
  fs.writeFileSync(path.join(dir, 'vol.dcm'), syntheticMosaic(ORIENTATIONS[name], { slices: 20, seriesHeaderBytes: 100 }, 3));
  runs.push({ label: `synthetic ${name}`, ref: path.join(dir, 'ref.dcm'), vol: path.join(dir, 'vol.dcm'), axes: axes.map((a) => [...a]) as [string[], string[]] });
}

for (const run of runs) {
  describe(`getAxesForTransform / getTransform / saveAsNiftiImage (${run.label})`, () => {
    it('reorients the mosaic into the reference BOLD: voxels where dcm2niix puts them, reference header and affine', async () => {
      const dir = fs.mkdtempSync(path.join(work, 'run-'));
      const refBold = await convertDicomFileToNifti(run.ref, path.join(dir, 'ref_BOLD.nii.gz'));
      const cfg = { ref_BOLD: refBold, axesTransform: [] as ReturnType<typeof getTransform> };
      const [target, dicom] = await getAxesForTransform(run.ref, cfg);
      expect([target, dicom]).toEqual(run.axes);
      cfg.axesTransform = getTransform(target, dicom);
      const reference = await readNifti(refBold);
      const out = path.join(dir, 'vol.nii');
      expect(await saveAsNiftiImage(readDicomFromFile(run.vol), out, cfg, reference)).toBe(out);
      const saved = await readNifti(out);
      expect(saved.affine).toEqual(reference.affine);
      expect(saved.shape).toEqual(reference.shape);
      expect(saved.header.descrip).toBe(reference.header.descrip);
      expect([saved.header.sform_code, saved.header.qform_code]).toEqual([reference.header.sform_code, reference.header.qform_code]);
      // the same voxels as dcm2niix's conversion of that volume (whose geometry the reference shares)
      const direct = convertDicomImgToNifti(parseDicom(fs.readFileSync(run.vol)));
      expect(Array.from(saved.data as ArrayLike<number>)).toEqual(Array.from(direct.data as ArrayLike<number>));
      let min = Infinity;
      let max = -Infinity;
      for (const v of saved.data as Uint16Array) { min = Math.min(min, v); max = Math.max(max, v); }
      expect([saved.header.cal_min, saved.header.cal_max]).toEqual([min, max]);
    });

    it.skipIf(!haveNibabel)("equals nibabel doing rt-cloud's steps (apply_orientation(mosaic_to_nii(d).get_fdata(), transform))", async () => {
      const dir = fs.mkdtempSync(path.join(work, 'nib-'));
      const refBold = await convertDicomFileToNifti(run.ref, path.join(dir, 'ref_BOLD.nii'));
      const transform = getTransform(...(await getAxesForTransform(run.ref, { ref_BOLD: refBold })));
      const out = path.join(dir, 'vol.nii');
      await saveAsNiftiImage(readDicomFromFile(run.vol), out, { axesTransform: transform }, refBold);
      // a copy the Python side can read with pydicom (the real file is read-only elsewhere)
      const dcm = path.join(dir, 'vol.dcm');
      await writeDicomFile(readDicomFromFile(run.vol), dcm);
      const r = py<{ equal: boolean; affineEqual: boolean; transform: number[][]; axes: string[][] }>(`
import nibabel as nib, numpy as np, pydicom, sys, json, warnings
warnings.filterwarnings('ignore')
from nibabel.nicom import dicomreaders
ref = nib.load(sys.argv[1])
target = nib.aff2axcodes(ref.affine)
d = dicomreaders.mosaic_to_nii(pydicom.dcmread(sys.argv[2]))
src = nib.aff2axcodes(d.affine)
t = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt(src), nib.orientations.axcodes2ornt(target))
want = nib.orientations.apply_orientation(d.get_fdata(), t)
ours = nib.load(sys.argv[3])
print(json.dumps({'equal': bool(np.array_equal(want, ours.get_fdata())), 'affineEqual': bool(np.allclose(ours.affine, ref.affine)),
  'transform': t.tolist(), 'axes': [list(target), list(src)]}))
`, refBold, dcm, out);
      expect(r.axes).toEqual(run.axes);
      expect(r.transform).toEqual(transform);
      expect(r.equal).toBe(true);
      expect(r.affineEqual).toBe(true);
    });
  });
}
