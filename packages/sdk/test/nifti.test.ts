// NIfTI-1 module, without oracles: header and image round trips (.nii, .nii.gz, big endian),
// quaternions, orientations, scaling, errors. The dcm2niix / nibabel comparisons are in
// nifti-oracles.test.ts.
import { describe, expect, it } from 'vitest';
import { gzipSync } from 'fflate';
import {
  NIFTI_TYPE, aff2axcodes, applyAffine, applyOrientation, axcodes2ornt, decodeNifti, decodeNifti1Header, encodeNifti,
  encodeNifti1Header, getFdata, getQform, getSform, headerAffine, invAffine, invOrntAff, ioOrientation, mat44ToQuatern, matmul,
  niftiImage, orntTransform, quaternToMat44, voxelIndex, type Mat4,
} from '../src/nifti/index.js';
import { formatG, sliceOrderOf } from '../src/nifti/dicom.js';
import { getTransform } from '../src/index.js';

const close = (a: number[][], b: number[][], tol = 1e-5) => {
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) expect(Math.abs(a[i][j] - b[i][j])).toBeLessThan(tol);
};

const OBLIQUE: Mat4 = [
  [-2.999142, 0.017274, 0.092858, 92.077164],
  [0.025149, 2.980125, 0.458449, -111.91008],
  [0.067202, -0.344322, 3.972556, -23.962812],
  [0, 0, 0, 1],
];

describe('header', () => {
  it('encodes and decodes every field (little endian, 348 + 4 bytes)', () => {
    const img = niftiImage(new Int16Array(24).map((_, i) => i - 5), [2, 3, 4], OBLIQUE);
    img.header.descrip = 'TE=28;Time=124756.327;phase=1';
    img.header.aux_file = 'aux';
    img.header.intent_name = 'name';
    img.header.slice_code = 3;
    img.header.dim_info = 57;
    img.header.xyzt_units = 10;
    const bytes = encodeNifti(img);
    expect(bytes.byteLength).toBe(352 + 24 * 2);
    const h = decodeNifti1Header(bytes);
    expect(h.littleEndian).toBe(true);
    expect(h.sizeof_hdr).toBe(348);
    expect(h.magic).toBe('n+1');
    expect(h.vox_offset).toBe(352);
    expect(h.dim).toEqual([3, 2, 3, 4, 1, 1, 1, 1]);
    expect(h.datatype).toBe(NIFTI_TYPE.INT16);
    expect(h.bitpix).toBe(16);
    expect(h.descrip).toBe('TE=28;Time=124756.327;phase=1');
    expect(h.aux_file).toBe('aux');
    expect(h.intent_name).toBe('name');
    expect([h.slice_code, h.dim_info, h.xyzt_units]).toEqual([3, 57, 10]);
    // nibabel's Nifti1Image(data, affine): sform 'aligned', qform 'unknown' (but filled).
    expect([h.sform_code, h.qform_code]).toEqual([2, 0]);
    close(getSform(h), OBLIQUE, 1e-4);
    close(getQform(h), OBLIQUE, 2e-3);
    expect(h.pixdim[0]).toBe(-1);
    expect(Array.from(encodeNifti1Header(h))).toEqual(Array.from(bytes.subarray(0, 352)));
  });

  it('reads a big-endian file (header and voxels swapped)', () => {
    const le = encodeNifti(niftiImage(new Float32Array([1.5, -2, 3.25, 1e6, 0, 7]), [3, 2], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]));
    const be = le.slice();
    const swap = (off: number, size: number, n: number) => {
      for (let k = 0; k < n; k++) be.subarray(off + k * size, off + (k + 1) * size).reverse();
    };
    swap(0, 4, 1); swap(32, 4, 1); swap(36, 2, 1); swap(40, 2, 8); swap(56, 4, 3); swap(68, 2, 4); swap(76, 4, 8);
    swap(108, 4, 3); swap(120, 2, 1); swap(124, 4, 4); swap(140, 4, 2); swap(252, 2, 2); swap(256, 4, 18); swap(352, 4, 6);
    const img = decodeNifti(be);
    expect(decodeNifti1Header(be).littleEndian).toBe(false);
    expect(Array.from(img.data as Float32Array)).toEqual([1.5, -2, 3.25, 1e6, 0, 7]);
    expect(img.shape).toEqual([3, 2]);
  });

  it('refuses NIfTI-2, header/image pairs, short files, unknown types', () => {
    const ok = encodeNifti(niftiImage(new Uint8Array(8), [2, 2, 2], OBLIQUE));
    const n2 = ok.slice();
    new DataView(n2.buffer).setInt32(0, 540, true);
    expect(() => decodeNifti(n2)).toThrow(/NIfTI-2/);
    const pair = ok.slice();
    pair.set([0x6e, 0x69, 0x31, 0], 344);
    expect(() => decodeNifti(pair)).toThrow(/ni1/);
    expect(() => decodeNifti(ok.subarray(0, 355))).toThrow(/shorter/);
    const rgb = ok.slice();
    new DataView(rgb.buffer).setInt16(70, 128, true);
    expect(() => decodeNifti(rgb)).toThrow(/datatype 128/);
    expect(() => decodeNifti(new Uint8Array(10))).toThrow(/not a NIfTI-1/);
  });
});

describe('image', () => {
  it('round-trips .nii and .nii.gz (gzip detected by content) for every supported type', () => {
    const types = [Uint8Array, Int8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array] as const;
    for (const T of types) {
      const data = new T(60).map((_, i) => (i * 37) % 100);
      const img = niftiImage(data, [3, 4, 5], OBLIQUE);
      for (const gzip of [false, true]) {
        const back = decodeNifti(encodeNifti(img, { gzip }));
        expect(back.data.constructor).toBe(T);
        expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(data));
        expect(back.shape).toEqual([3, 4, 5]);
        close(back.affine, OBLIQUE, 1e-4);
      }
    }
    const big = niftiImage(new BigInt64Array([1n, -2n]), [2], OBLIQUE);
    expect(Array.from(decodeNifti(encodeNifti(big)).data as BigInt64Array)).toEqual([1n, -2n]);
    // a .nii.gz written by another gzip (fflate with other settings) reads the same
    expect(decodeNifti(gzipSync(encodeNifti(big), { level: 9 })).shape).toEqual([2]);
  });

  it('getFdata applies scl_slope/scl_inter (0 or NaN slope: unscaled), as nibabel', () => {
    const img = niftiImage(new Int16Array([0, 1, 2, -3]), [4], OBLIQUE);
    expect(Array.from(getFdata(img))).toEqual([0, 1, 2, -3]);
    img.header.scl_slope = 2;
    img.header.scl_inter = 10;
    expect(Array.from(getFdata(img))).toEqual([10, 12, 14, 4]);
    img.header.scl_slope = 0;
    expect(Array.from(getFdata(img))).toEqual([0, 1, 2, -3]);
  });

  it('writes a changed affine into sform (aligned) and qform (unknown), as nibabel update_header', () => {
    const img = niftiImage(new Uint8Array(8), [2, 2, 2], OBLIQUE);
    img.header.sform_code = 1;
    img.header.qform_code = 1;
    const moved = OBLIQUE.map((r) => r.slice());
    moved[0][3] += 10;
    const h = decodeNifti(encodeNifti({ ...img, affine: moved })).header;
    expect([h.sform_code, h.qform_code]).toEqual([2, 0]);
    expect(h.srow_x[3]).toBeCloseTo(moved[0][3], 4);
    // an unchanged affine keeps the header's codes
    const same = decodeNifti(encodeNifti(img)).header;
    expect([same.sform_code, same.qform_code]).toEqual([1, 1]);
  });

  it('voxelIndex is NIfTI (first index fastest) order', () => {
    expect(voxelIndex([4, 5, 6], 1, 2, 3)).toBe(1 + 4 * (2 + 5 * 3));
  });
});

describe('affines and quaternions', () => {
  it('mat44ToQuatern / quaternToMat44 invert each other (proper and improper rotations)', () => {
    for (const a of [OBLIQUE, [[3, 0, 0, 1], [0, 2, 0, 2], [0, 0, 4, 3], [0, 0, 0, 1]], [[0, 0, -2, 5], [-3, 0, 0, 6], [0, 3.5, 0, 7], [0, 0, 0, 1]]] as Mat4[]) {
      const q = mat44ToQuatern(a);
      close(quaternToMat44(q.quatern_b, q.quatern_c, q.quatern_d, q.qoffset_x, q.qoffset_y, q.qoffset_z, q.dx, q.dy, q.dz, q.qfac), a, 2e-3);
    }
  });

  it('invAffine, applyAffine', () => {
    const inv = invAffine(OBLIQUE);
    close(matmul(OBLIQUE, inv), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], 1e-9);
    const w = applyAffine(OBLIQUE, [1, 2, 3]);
    close([applyAffine(inv, w)], [[1, 2, 3]], 1e-9);
  });

  it('headerAffine: sform, else qform, else the base affine', () => {
    const h = niftiImage(new Uint8Array(8), [2, 2, 2], OBLIQUE).header;
    close(headerAffine(h), getSform(h));
    h.sform_code = 0;
    h.qform_code = 1;
    close(headerAffine(h), getQform(h));
    h.qform_code = 0;
    h.pixdim = [1, 2, 3, 4, 1, 1, 1, 1];
    close(headerAffine(h), [[-2, 0, 0, 1], [0, 3, 0, -1.5], [0, 0, 4, -2], [0, 0, 0, 1]]);
  });
});

describe('orientations (nibabel.orientations)', () => {
  it('aff2axcodes', () => {
    expect(aff2axcodes(OBLIQUE)).toEqual(['L', 'A', 'S']);
    expect(aff2axcodes([[-0.017, -2.999, 0.093, 93], [-2.98, 0.025, 0.458, 75], [0.344, 0.067, 3.97, -45], [0, 0, 0, 1]])).toEqual(['P', 'L', 'S']);
    expect(aff2axcodes([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).toEqual(['R', 'A', 'S']);
  });

  it('axcodes2ornt / orntTransform / getTransform', () => {
    expect(axcodes2ornt('RAS')).toEqual([[0, 1], [1, 1], [2, 1]]);
    expect(axcodes2ornt(['L', 'P', 'I'])).toEqual([[0, -1], [1, -1], [2, -1]]);
    expect(axcodes2ornt(['P', 'L', 'S'])).toEqual([[1, -1], [0, -1], [2, 1]]);
    // nibabel: ornt_transform(axcodes2ornt('PLS'), axcodes2ornt('LAS')) == [[1, -1], [0, 1], [2, 1]]
    expect(orntTransform(axcodes2ornt('PLS'), axcodes2ornt('LAS'))).toEqual([[1, -1], [0, 1], [2, 1]]);
    expect(getTransform(['L', 'A', 'S'], ['P', 'L', 'S'])).toEqual([[1, -1], [0, 1], [2, 1]]);
    expect(() => axcodes2ornt('RAX')).toThrow(/unknown axis code/);
  });

  it('applyOrientation moves and flips voxels; affine x invOrntAff keeps their world positions', () => {
    const shape = [2, 3, 4];
    const data = new Float64Array(24).map((_, i) => i);
    const ornt = orntTransform(axcodes2ornt('PLS'), axcodes2ornt('LAS'));
    const out = applyOrientation(data, shape, ornt);
    expect(out.shape).toEqual([3, 2, 4]);
    // nibabel: apply_orientation(np.arange(24.).reshape((2,3,4), order='F'), ornt).ravel(order='F')[:8]
    expect(Array.from(out.data.subarray(0, 8))).toEqual([1, 3, 5, 0, 2, 4, 7, 9]);
    const aff: Mat4 = [[0, -3, 0, 10], [-2, 0, 0, 20], [0, 0, 4, 30], [0, 0, 0, 1]];
    expect(aff2axcodes(aff)).toEqual(['P', 'L', 'S']);
    const newAff = matmul(aff, invOrntAff(ornt, shape));
    expect(aff2axcodes(newAff)).toEqual(['L', 'A', 'S']);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) {
      const w = applyAffine(aff, [i, j, k]);
      const [a, b, c] = applyAffine(invAffine(newAff), w).map(Math.round);
      expect(out.data[voxelIndex(out.shape, a, b, c)]).toBe(data[voxelIndex(shape, i, j, k)]);
    }
    expect(ioOrientation(newAff)).toEqual([[0, -1], [1, 1], [2, 1]]);
  });
});

describe("dcm2niix's small pieces", () => {
  it('formatG is printf %.2g (TE in the descrip)', () => {
    expect(formatG(28, 2)).toBe('28');
    expect(formatG(2.46, 2)).toBe('2.5');
    expect(formatG(30.5, 2)).toBe('30');
    expect(formatG(31.5, 2)).toBe('32');
    expect(formatG(128, 2)).toBe('1.3e+02');
    expect(formatG(0.00012, 2)).toBe('0.00012');
    expect(formatG(0.000012, 2)).toBe('1.2e-05');
  });

  it('sliceOrderOf: the NIfTI slice_code dcm2niix derives from slice times', () => {
    expect(sliceOrderOf([0, 1, 2, 3])).toBe(1);
    expect(sliceOrderOf([3, 2, 1, 0])).toBe(2);
    expect(sliceOrderOf([0, 2, 1, 3])).toBe(3);
    expect(sliceOrderOf([3, 1, 2, 0])).toBe(4);
    expect(sliceOrderOf([2, 0, 3, 1])).toBe(5);
    expect(sliceOrderOf([1, 3, 0, 2])).toBe(6);
    expect(sliceOrderOf([0, 0, 1, 1])).toBe(0); // multiband: unknown
  });
});
