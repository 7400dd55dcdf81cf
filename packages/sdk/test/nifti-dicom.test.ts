// DICOM -> NIfTI against the tools rt-cloud used: dcm2niix (its convertDicomImgToNifti /
// convertDicomFileToNifti ran `dcm2niix -s y`) and nibabel (dicomreaders.mosaic_to_nii, and as the
// reader of our files). On the real run (../shared/data/rtcloud-sample) and on synthetic Siemens
// data in five orientations, as mosaics and as single-slice series.
//
// What must be equal, and is:
//  * dicomToNifti vs dcm2niix: every header field (floats to 2e-4: both are float32 computed in
//    different orders), the voxels (same order: i = DICOM column, j = DICOM row flipped, k = slice),
//    SliceTiming (mosaics: exact; single-slice series: to 0.01 s, dcm2niix holds HHMMSS times in float32).
//  * mosaicToNii vs nibabel's mosaic_to_nii: affine, shape, voxels, saved header.
//  * mosaicToNii vs dcm2niix (different voxel order): every voxel lands on the same world coordinate
//    with the same value.
// Skipped with a message when dcm2niix, python3-nibabel (or python3-pydicom) or the sample is absent.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { anonymize, parseDicom, type DicomDataset } from '@rtfmri/dicom-wasm';
import {
  applyAffine, decodeNifti, dicomToNifti, encodeNifti, invAffine, mosaicToNii, voxelIndex, type NiftiImage,
} from '../src/nifti/index.js';
import {
  ORIENTATIONS, PY, SAMPLE_DIR, haveDcm2niix, haveNibabel, haveSample, py, runDcm2niix, syntheticMosaic, syntheticSliceSeries,
  type Orient,
} from './nifti-oracles.js';
import { tmpDir, rmrf } from './util.js';

const haveNibabelDicom = haveNibabel && (() => {
  try {
    return py<boolean>('import pydicom, json; print(json.dumps(True))');
  } catch {
    return false;
  }
})();

if (!haveSample) console.warn(`nifti-dicom: real-data cases skipped: ${SAMPLE_DIR} is absent`);
if (!haveDcm2niix) console.warn('nifti-dicom: dcm2niix comparisons skipped: dcm2niix is not installed (Debian: apt-get install dcm2niix)');
if (!haveNibabel) console.warn('nifti-dicom: nibabel comparisons skipped: no python3 with nibabel (Debian: apt-get install python3-nibabel)');
else if (!haveNibabelDicom) console.warn('nifti-dicom: mosaic_to_nii comparisons skipped: python3-pydicom is not installed');
if (haveNibabel) console.info(`nifti-dicom: nibabel via ${PY}`);

const work = tmpDir('rtfmri-nifti-');
afterAll(() => rmrf(work));
let seq = 0;
const fresh = (name: string) => {
  const d = path.join(work, `${seq++}-${name.replace(/[^a-z0-9]+/gi, '_')}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
};

/** Python: compares every header field of two .nii files and their voxels; prints JSON. */
const COMPARE_PY = `
import nibabel as nib, numpy as np, sys, json
a = nib.load(sys.argv[1]); b = nib.load(sys.argv[2])
diffs = []
for k in a.header.keys():
    va, vb = a.header[k], b.header[k]
    if isinstance(va, np.ndarray) and va.dtype.kind == 'f':
        ok = bool(np.allclose(va, vb, atol=2e-4, rtol=0, equal_nan=True))
    else:
        ok = bool(np.array_equal(va, vb))
    if not ok: diffs.append('%s: %s vs %s' % (k, va, vb))
da = np.asanyarray(a.dataobj); db = np.asanyarray(b.dataobj)
print(json.dumps({'diffs': diffs, 'dataEqual': bool(da.shape == db.shape and da.dtype == db.dtype and np.array_equal(da, db)),
  'affineMaxDiff': float(np.abs(a.affine - b.affine).max()), 'dtype': str(db.dtype), 'shape': list(db.shape)}))
`;

interface Compare { diffs: string[]; dataEqual: boolean; affineMaxDiff: number; dtype: string; shape: number[] }

/** Our image vs dcm2niix on the same files: header, voxels, SliceTiming. */
function versusDcm2niix(name: string, files: Uint8Array[], ours: NiftiImage): { cmp: Compare; sliceTiming?: number[] } {
  const dir = fresh(name);
  const inDir = path.join(dir, 'in');
  fs.mkdirSync(inDir);
  files.forEach((b, i) => fs.writeFileSync(path.join(inDir, `f${String(i).padStart(3, '0')}.dcm`), b));
  const oursPath = path.join(dir, 'ours.nii');
  fs.writeFileSync(oursPath, encodeNifti(ours));
  const d = runDcm2niix(files.length === 1 ? path.join(inDir, 'f000.dcm') : inDir, path.join(dir, 'd2n'));
  const cmp = py<Compare>(COMPARE_PY, d.nii, oursPath);
  return { cmp, sliceTiming: d.json.SliceTiming as number[] | undefined };
}

/** Every voxel of `a` sits at the world position of a voxel of `b` holding the same value. */
function sameWorld(a: NiftiImage, b: NiftiImage, valueOfA: (v: number) => number = (v) => v): { checked: number; maxOffGrid: number } {
  const toB = invAffine(b.affine);
  let maxOffGrid = 0;
  let checked = 0;
  const [nx, ny, nz] = a.shape;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    const ijk = applyAffine(toB, applyAffine(a.affine, [i, j, k]));
    const r = ijk.map(Math.round);
    maxOffGrid = Math.max(maxOffGrid, ...ijk.map((v, t) => Math.abs(v - r[t])));
    if (r.some((v, t) => v < 0 || v >= b.shape[t])) throw new Error(`voxel ${i},${j},${k} maps outside the other image (${ijk.join(',')})`);
    const va = valueOfA(Number(a.data[voxelIndex(a.shape, i, j, k)]));
    const vb = Number(b.data[voxelIndex(b.shape, r[0], r[1], r[2])]);
    if (va !== vb) throw new Error(`voxel ${i},${j},${k}: ${va} vs ${vb} at the same world position`);
    checked++;
  }
  return { checked, maxOffGrid };
}

/** The world (RAS) position of DICOM pixel (row r, col c) of slice file/tile `s`, from the DICOM alone. */
function dicomWorld(o: Orient, firstPixel: number[], normalStep: number[], r: number, c: number, s: number): number[] {
  const sp = o.spacing ?? [3, 3];
  const lps = [0, 1, 2].map((a) => firstPixel[a] + o.iop[3 + a] * sp[0] * r + o.iop[a] * sp[1] * c + normalStep[a] * s);
  return [-lps[0], -lps[1], lps[2]];
}

describe('DICOM -> NIfTI geometry from the DICOM alone (no oracle)', () => {
  for (const [name, o] of Object.entries(ORIENTATIONS)) {
    it(`${name}: every voxel of a mosaic and of a slice series sits where the DICOM puts its pixel`, () => {
      const sp = o.spacing ?? [3, 3];
      const dz = o.dz ?? 3;
      const r = o.iop.slice(0, 3);
      const c = o.iop.slice(3, 6);
      const n = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
      const origin = o.origin ?? [-100.5, -80.25, -40];
      for (const neg of [false, true]) {
        const ds = parseDicom(syntheticMosaic({ ...o, negativeNormal: neg }, { slices: 9, tile: 16, seriesHeaderBytes: 100 }));
        const step = n.map((x) => (neg ? -x : x) * dz);
        for (const img of [dicomToNifti(ds), mosaicToNii(ds)]) {
          const dcm2niixLayout = img.header.sform_code === 1;
          for (const [row, col, s] of [[0, 0, 0], [15, 0, 3], [3, 11, 8], [15, 15, 5]]) {
            const ijk = dcm2niixLayout ? [col, 15 - row, s] : [row, col, s];
            const got = applyAffine(img.affine, ijk);
            const want = dicomWorld(o, origin, step, row, col, s);
            for (let a = 0; a < 3; a++) expect(Math.abs(got[a] - want[a])).toBeLessThan(1e-3);
          }
        }
      }
      for (const order of ['ascending', 'descending'] as const) {
        const files = syntheticSliceSeries(o, { slices: 5, tile: 16, instanceOrder: order }).map((b) => parseDicom(b));
        const img = dicomToNifti(files.reverse());
        expect(img.shape).toEqual([16, 16, 5]);
        for (const [row, col, s] of [[0, 0, 0], [15, 0, 4], [3, 11, 2]]) {
          const got = applyAffine(img.affine, [col, 15 - row, s]);
          const want = dicomWorld(o, origin, n.map((x) => x * dz), row, col, s);
          for (let a = 0; a < 3; a++) expect(Math.abs(got[a] - want[a])).toBeLessThan(1e-3);
        }
        void sp;
      }
    });
  }
});

describe.skipIf(!haveSample)('the real run (rtcloud-sample)', () => {
  const file = (n: number) => new Uint8Array(fs.readFileSync(path.join(SAMPLE_DIR, `001_000013_${String(n).padStart(6, '0')}.dcm`)));

  it('dicomToNifti: 64x64x27 int16, sform = qform code 1, dcm2niix SliceTiming (MosaicRefAcqTimes / 1000)', () => {
    const img = dicomToNifti(parseDicom(file(5)));
    expect(img.shape).toEqual([64, 64, 27]);
    expect(img.data).toBeInstanceOf(Int16Array);
    expect([img.header.sform_code, img.header.qform_code, img.header.slice_code, img.header.dim_info]).toEqual([1, 1, 3, 57]);
    expect(img.header.descrip).toBe('TE=28;Time=124756.327;phase=1');
    expect(img.header.pixdim.slice(0, 5)).toEqual([-1, 3, 3, 4, 1.5]);
    expect(img.sliceTimes!.slice(0, 4)).toEqual([0, 0.765, 0.0525, 0.82]);
    expect(img.sliceTimes!.length).toBe(27);
  });

  it.skipIf(!haveDcm2niix || !haveNibabel)('every volume: header, voxels and SliceTiming equal dcm2niix -s y', () => {
    const worst = { affine: 0 };
    for (let n = 0; n <= 10; n++) {
      const bytes = file(n);
      const ours = dicomToNifti(parseDicom(bytes));
      const { cmp, sliceTiming } = versusDcm2niix(`real ${n}`, [bytes], ours);
      expect(cmp.diffs, `volume ${n}`).toEqual([]);
      expect(cmp.dataEqual, `volume ${n}`).toBe(true);
      expect(cmp.dtype).toBe('int16');
      worst.affine = Math.max(worst.affine, cmp.affineMaxDiff);
      expect(sliceTiming).toBeDefined();
      expect(ours.sliceTimes!.map((t, i) => Math.abs(t - sliceTiming![i])).every((d) => d < 1e-6)).toBe(true);
    }
    expect(worst.affine).toBeLessThan(1e-4);
    console.info(`nifti-dicom: real run, 11 volumes: affine max |ours - dcm2niix| = ${worst.affine.toExponential(2)} mm`);
  });

  it.skipIf(!haveDcm2niix || !haveNibabel)('an anonymized volume (dicom-wasm default profile) converts to the same image', () => {
    const raw = dicomToNifti(parseDicom(file(5)));
    const anon = dicomToNifti(parseDicom(anonymize(file(5))));
    expect(Array.from(anon.data as Int16Array)).toEqual(Array.from(raw.data as Int16Array));
    expect(anon.affine).toEqual(raw.affine);
    expect(anon.sliceTimes).toEqual(raw.sliceTimes);
    const { cmp } = versusDcm2niix('real anonymized', [anonymize(file(5))], anon);
    expect(cmp.diffs).toEqual([]);
    expect(cmp.dataEqual).toBe(true);
  });

  it.skipIf(!haveNibabelDicom)("mosaicToNii equals nibabel's dicomreaders.mosaic_to_nii (affine, shape, voxels, saved header)", () => {
    const dir = fresh('real nib');
    const src = path.join(SAMPLE_DIR, '001_000013_000005.dcm');
    const ours = mosaicToNii(parseDicom(file(5)));
    fs.writeFileSync(path.join(dir, 'ours.nii'), encodeNifti(ours));
    const nib = py<{ affine: number[][]; shape: number[] }>(`
import nibabel as nib, pydicom, sys, json, warnings
warnings.filterwarnings('ignore')
from nibabel.nicom import dicomreaders
img = dicomreaders.mosaic_to_nii(pydicom.dcmread(sys.argv[1]))
nib.save(img, sys.argv[2])
print(json.dumps({'affine': img.affine.tolist(), 'shape': list(img.shape)}))
`, src, path.join(dir, 'nib.nii'));
    expect(ours.shape).toEqual(nib.shape);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(Math.abs(ours.affine[r][c] - nib.affine[r][c])).toBeLessThan(1e-6);
    const cmp = py<Compare>(COMPARE_PY, path.join(dir, 'nib.nii'), path.join(dir, 'ours.nii'));
    expect(cmp.diffs).toEqual([]);
    expect(cmp.dataEqual).toBe(true);
  });

  it('mosaicToNii (nibabel order) and dicomToNifti (dcm2niix order) put every voxel at the same world position', () => {
    const ds = parseDicom(file(5));
    const w = sameWorld(mosaicToNii(ds), dicomToNifti(ds));
    expect(w.checked).toBe(64 * 64 * 27);
    expect(w.maxOffGrid).toBeLessThan(1e-3);
  });

  it.skipIf(!haveNibabel)('nibabel reads our .nii and .nii.gz: affine, qform, zooms, shape, voxels, slice_code', () => {
    const dir = fresh('real read');
    const img = dicomToNifti(parseDicom(file(5)));
    for (const gz of [false, true]) {
      const p = path.join(dir, gz ? 'x.nii.gz' : 'x.nii');
      fs.writeFileSync(p, encodeNifti(img, { gzip: gz }));
      const r = py<{ affine: number[][]; qform: number[][]; zooms: number[]; shape: number[]; sum: number; first: number[]; slice: string }>(`
import nibabel as nib, numpy as np, sys, json
i = nib.load(sys.argv[1]); d = np.asanyarray(i.dataobj)
print(json.dumps({'affine': i.affine.tolist(), 'qform': i.header.get_qform().tolist(), 'zooms': [float(z) for z in i.header.get_zooms()],
  'shape': list(i.shape), 'sum': int(d.astype(np.int64).sum()), 'first': [int(v) for v in d.ravel(order='F')[:50]],
  'slice': i.header.get_value_label('slice_code')}))
`, p);
      expect(r.shape).toEqual([64, 64, 27]);
      for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) {
        expect(Math.abs(r.affine[a][b] - img.affine[a][b])).toBeLessThan(1e-5);
        expect(Math.abs(r.qform[a][b] - img.affine[a][b])).toBeLessThan(1e-3);
      }
      expect(r.zooms).toEqual([3, 3, 4]);
      expect(r.slice).toBe('alternating increasing');
      let sum = 0;
      for (const v of img.data as Int16Array) sum += v;
      expect(r.sum).toBe(sum);
      expect(r.first).toEqual(Array.from((img.data as Int16Array).subarray(0, 50)));
    }
    // and we read nibabel's / dcm2niix's files back
    expect(decodeNifti(fs.readFileSync(path.join(dir, 'x.nii.gz'))).shape).toEqual([64, 64, 27]);
  });
});

describe('synthetic Siemens data vs dcm2niix', () => {
  const cases: Array<[string, () => Uint8Array[]]> = [];
  for (const [name, o] of Object.entries(ORIENTATIONS)) {
    cases.push([`mosaic, ${name}`, () => [syntheticMosaic(o, { slices: 27, seriesHeaderBytes: 100 })]]);
    cases.push([`mosaic, ${name}, CSA normal reversed`, () => [syntheticMosaic({ ...o, negativeNormal: true }, { slices: 27, seriesHeaderBytes: 100 })]]);
    cases.push([`slice series, ${name}`, () => syntheticSliceSeries(o, { slices: 10 })]);
    cases.push([`slice series, ${name}, instance numbers against the normal`, () => syntheticSliceSeries(o, { slices: 10, instanceOrder: 'descending' })]);
  }
  cases.push(['mosaic, ProtocolSliceNumber 5 (stored reversed)', () => [syntheticMosaic(ORIENTATIONS.axial, { slices: 27, protocolSliceNumber: 5, seriesHeaderBytes: 100 })]]);
  cases.push(['mosaic, 16 bits stored, values past 32767 (uint16)', () => {
    const px = new Uint16Array(384 * 384).map((_, i) => (i * 7919) % 65536);
    return [syntheticMosaic(ORIENTATIONS.axial, { slices: 36, bitsStored: 16, pixels: px, seriesHeaderBytes: 100 })];
  }]);
  cases.push(['mosaic, 12 bits stored, overflow bits set (masked as dcm2niix does)', () => {
    const px = new Uint16Array(384 * 384).map((_, i) => (i * 131) % 8192);
    return [syntheticMosaic(ORIENTATIONS.axial, { slices: 36, pixels: px, seriesHeaderBytes: 100 })];
  }]);

  for (const [name, make] of cases) {
    it.skipIf(!haveDcm2niix || !haveNibabel)(name, () => {
      const files = make();
      const datasets: DicomDataset[] = files.map((b) => parseDicom(b));
      const ours = dicomToNifti(datasets);
      const { cmp, sliceTiming } = versusDcm2niix(name, files, ours);
      expect(cmp.diffs).toEqual([]);
      expect(cmp.dataEqual).toBe(true);
      expect(cmp.affineMaxDiff).toBeLessThan(1e-4);
      expect(sliceTiming, 'dcm2niix wrote SliceTiming').toBeDefined();
      expect(ours.sliceTimes).toBeDefined();
      const truthByPosition = ours.sliceTimes!;
      if (name.includes('instance numbers against the normal')) {
        // dcm2niix v1.0.20220720 lists these in file (instance) order although it stores the slices
        // flipped (fixed later, dcm2niix issue 797); ours follow the slices.
        const same = truthByPosition.every((t, i) => Math.abs(t - sliceTiming![i]) < 0.01);
        const reversed = truthByPosition.every((t, i) => Math.abs(t - sliceTiming![sliceTiming!.length - 1 - i]) < 0.01);
        expect(same || reversed).toBe(true);
      } else {
        const tol = name.startsWith('slice series') ? 0.01 : 1e-6;
        truthByPosition.forEach((t, i) => expect(Math.abs(t - sliceTiming![i])).toBeLessThan(tol));
      }
      if (datasets.length === 1) {
        // nibabel keeps the overflow bits dcm2niix masks off.
        const w = sameWorld(mosaicToNii(datasets[0]), ours, name.includes('12 bits') ? (v) => v & 4095 : undefined);
        expect(w.maxOffGrid).toBeLessThan(1e-3);
      }
    });
  }

  it('the slice times of a slice series follow the slices (each file\'s AcquisitionTime)', () => {
    const o = ORIENTATIONS.axial;
    const asc = dicomToNifti(syntheticSliceSeries(o, { slices: 6, tile: 8 }).map((b) => parseDicom(b)));
    const desc = dicomToNifti(syntheticSliceSeries(o, { slices: 6, tile: 8, instanceOrder: 'descending' }).map((b) => parseDicom(b)));
    expect(desc.sliceTimes).toEqual(asc.sliceTimes);
    expect(Array.from(desc.data as Int16Array)).toEqual(Array.from(asc.data as Int16Array));
  });
});

describe.skipIf(!haveNibabelDicom)('synthetic mosaics vs nibabel mosaic_to_nii', () => {
  for (const [name, o] of Object.entries(ORIENTATIONS)) {
    it(name, () => {
      const dir = fresh(`nib ${name}`);
      for (const neg of [false, true]) {
        const bytes = syntheticMosaic({ ...o, negativeNormal: neg }, { slices: 20, seriesHeaderBytes: 100 });
        const p = path.join(dir, `m${neg ? 1 : 0}.dcm`);
        fs.writeFileSync(p, bytes);
        const nib = py<{ affine: number[][]; shape: number[]; sum: number }>(`
import nibabel as nib, pydicom, sys, json, warnings, numpy as np
warnings.filterwarnings('ignore')
from nibabel.nicom import dicomreaders
img = dicomreaders.mosaic_to_nii(pydicom.dcmread(sys.argv[1]))
d = np.asanyarray(img.dataobj)
print(json.dumps({'affine': img.affine.tolist(), 'shape': list(img.shape), 'sum': float((d * np.arange(d.size).reshape(d.shape, order='F') % 997).sum())}))
`, p);
        const ours = mosaicToNii(parseDicom(bytes));
        expect(ours.shape).toEqual(nib.shape);
        for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(Math.abs(ours.affine[r][c] - nib.affine[r][c])).toBeLessThan(1e-6);
        let sum = 0;
        for (let i = 0; i < ours.data.length; i++) sum += (Number(ours.data[i]) * i) % 997;
        expect(sum).toBe(nib.sum);
      }
    });
  }
});
