// A NIfTI-1 image in memory ({ header, affine, data }) and its single-file encoding: `.nii`, or
// `.nii.gz` through fflate. What nibabel's Nifti1Image / to_bytes / from_bytes do, without numpy:
// `data` is a typed array in file order (the first index varies fastest). No Node or DOM imports:
// the Node wrappers (readNifti, saveAsNiftiImage, ...) only add file I/O.

import { gunzipSync, gzipSync } from 'fflate';
import { maxAbsDiff, voxelSizes, type Mat4 } from './affine.js';
import {
  NIFTI1_VOX_OFFSET, NIFTI_XFORM, cloneHeader, ctorOf, datatypeOf, decodeNifti1Header, emptyHeader, encodeNifti1Header,
  headerAffine, setQform, setSform, shapeOf, type Nifti1Header, type NiftiData,
} from './header.js';

export interface NiftiImage {
  header: Nifti1Header;
  /** The voxel -> world (RAS+ mm) transform readers use: sform, else qform (nibabel's img.affine). */
  affine: Mat4;
  /**
   * Voxels in file order: voxel (i, j, k, t) is data[i + nx * (j + ny * (k + nz * t))] (nibabel's
   * img.dataobj[i, j, k, t]). Raw stored values: apply scl_slope/scl_inter with getFdata().
   */
  data: NiftiData;
  /** dim[1..dim[0]]. */
  shape: number[];
  /**
   * Acquisition time of each slice (along the slice axis, k) in seconds from the volume's start,
   * when the source told it (what dcm2niix writes as SliceTiming in its JSON sidecar). Not stored
   * in the .nii file (NIfTI-1 has only slice_code / slice_duration).
   */
  sliceTimes?: number[];
}

const GZIP_MAGIC0 = 0x1f;
const GZIP_MAGIC1 = 0x8b;

/** True when the bytes are gzip (a .nii.gz). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === GZIP_MAGIC0 && bytes[1] === GZIP_MAGIC1;
}

/** Default cap on an inflated .nii.gz (a gzip bomb fails instead of taking the memory). */
export const MAX_NIFTI_BYTES = 2 ** 31 - 1;

/**
 * Parses a single-file NIfTI-1 image (`n+1`), plain or gzipped (detected by content). Either byte
 * order; the data come back in this machine's order. Throws RangeError on anything else (NIfTI-2,
 * a header/image pair `ni1`, an unsupported datatype, a file shorter than its voxels).
 */
export function decodeNifti(bytes: Uint8Array, opts: { maxBytes?: number } = {}): NiftiImage {
  let raw = bytes;
  if (isGzip(bytes)) {
    raw = gunzipSync(bytes);
    if (raw.byteLength > (opts.maxBytes ?? MAX_NIFTI_BYTES)) throw new RangeError('inflated NIfTI larger than maxBytes');
  }
  const { littleEndian, ...header } = decodeNifti1Header(raw);
  if (header.magic !== 'n+1') {
    throw new RangeError(header.magic === 'ni1' ? 'a .hdr/.img pair (magic ni1): only single-file .nii is supported' : `not a NIfTI-1 image (magic '${header.magic}')`);
  }
  const shape = shapeOf(header);
  const Ctor = ctorOf(header.datatype);
  if (!Ctor) throw new RangeError(`unsupported NIfTI datatype ${header.datatype}`);
  const n = shape.reduce((a, b) => a * b, 1);
  const offset = Math.floor(header.vox_offset);
  const size = Ctor.BYTES_PER_ELEMENT;
  if (offset < 348 || offset + n * size > raw.byteLength) {
    throw new RangeError(`NIfTI data shorter than its header says (${n} voxels of ${size} bytes at ${offset}, file ${raw.byteLength} bytes)`);
  }
  const copy = raw.slice(offset, offset + n * size);
  if (!littleEndian && size > 1) swapInPlace(copy, size);
  const data = new Ctor(copy.buffer, 0, n);
  return { header, affine: headerAffine(header), data, shape };
}

function swapInPlace(b: Uint8Array, size: number): void {
  for (let i = 0; i + size <= b.length; i += size) {
    for (let a = i, z = i + size - 1; a < z; a++, z--) {
      const t = b[a];
      b[a] = b[z];
      b[z] = t;
    }
  }
}

/**
 * Encodes a single-file NIfTI-1 image (little endian, voxels at byte 352), gzipped when
 * `gzip` is true. As nibabel's save: dim, datatype and bitpix follow the data; when `affine`
 * differs from the header's own (sform/qform) it is written as the sform ('aligned') and the qform
 * (code 'unknown'), with pixdim[1..3] its voxel sizes.
 */
export function encodeNifti(img: NiftiImage, opts: { gzip?: boolean; level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 } = {}): Uint8Array {
  const h = harmonizedHeader(img);
  const head = encodeNifti1Header(h);
  const body = new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  const out = new Uint8Array(head.byteLength + body.byteLength);
  out.set(head, 0);
  if (isLittleEndianHost()) out.set(body, head.byteLength);
  else {
    const copy = body.slice();
    swapInPlace(copy, img.data.BYTES_PER_ELEMENT);
    out.set(copy, head.byteLength);
  }
  return opts.gzip ? gzipSync(out, { level: opts.level ?? 6 }) : out;
}

const isLittleEndianHost = (): boolean => new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The header encodeNifti writes for `img` (nibabel's update_header). */
export function harmonizedHeader(img: NiftiImage): Nifti1Header {
  const h = cloneHeader(img.header);
  const n = img.shape.reduce((a, b) => a * b, 1);
  if (n !== img.data.length) throw new RangeError(`shape ${img.shape.join('x')} has ${n} voxels, data ${img.data.length}`);
  if (img.shape.length < 1 || img.shape.length > 7) throw new RangeError('NIfTI-1 holds 1 to 7 dimensions');
  h.dim = [img.shape.length, ...img.shape];
  while (h.dim.length < 8) h.dim.push(1);
  h.datatype = datatypeOf(img.data);
  h.bitpix = img.data.BYTES_PER_ELEMENT * 8;
  h.vox_offset = NIFTI1_VOX_OFFSET;
  h.sizeof_hdr = 348;
  h.magic = 'n+1';
  // nibabel writes an unset scaling (NaN) as slope 1, intercept 0.
  if (!Number.isFinite(h.scl_slope)) h.scl_slope = 1;
  if (!Number.isFinite(h.scl_inter)) h.scl_inter = 0;
  if (maxAbsDiff(img.affine, headerAffine(h)) > 1e-5 * (1 + Math.max(...img.affine.flat().map(Math.abs)))) {
    setSform(h, img.affine, NIFTI_XFORM.ALIGNED_ANAT);
    setQform(h, img.affine, NIFTI_XFORM.UNKNOWN);
  }
  return h;
}

/**
 * A new image from voxels and an affine, as nibabel's Nifti1Image(data, affine, header):
 * without a header, the sform is the affine with code 2 ('aligned') and the qform the same with
 * code 0 ('unknown'), pixdim[1..3] the affine's voxel sizes; with a header, it is copied and the
 * affine written into it when it differs from the header's.
 */
export function niftiImage(data: NiftiData, shape: number[], affine: Mat4, header?: Nifti1Header): NiftiImage {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new RangeError(`shape ${shape.join('x')} has ${n} voxels, data ${data.length}`);
  let h: Nifti1Header;
  if (header) {
    h = harmonizedHeader({ header, affine, data, shape });
  } else {
    h = emptyHeader();
    h.dim = [shape.length, ...shape];
    while (h.dim.length < 8) h.dim.push(1);
    h.datatype = datatypeOf(data);
    h.bitpix = data.BYTES_PER_ELEMENT * 8;
    setSform(h, affine, NIFTI_XFORM.ALIGNED_ANAT);
    setQform(h, affine, NIFTI_XFORM.UNKNOWN);
    const z = voxelSizes(affine);
    h.pixdim[1] = Math.fround(z[0]);
    h.pixdim[2] = Math.fround(z[1]);
    h.pixdim[3] = Math.fround(z[2]);
  }
  return { header: h, affine: affine.map((r) => r.slice()), data, shape: shape.slice() };
}

/**
 * The voxel values as float64 with scl_slope / scl_inter applied (nibabel's get_fdata): a slope
 * of 0 or NaN means unscaled.
 */
export function getFdata(img: NiftiImage): Float64Array {
  const { scl_slope: slope, scl_inter: inter } = img.header;
  const scaled = Number.isFinite(slope) && slope !== 0;
  const b = scaled && Number.isFinite(inter) ? inter : 0;
  const out = new Float64Array(img.data.length);
  const d = img.data;
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    out[i] = scaled ? v * slope + b : v;
  }
  return out;
}

/** Index into `data` of voxel (i, j, k[, t]). */
export function voxelIndex(shape: number[], ...ijk: number[]): number {
  let idx = 0;
  let stride = 1;
  for (let a = 0; a < shape.length; a++) {
    idx += (ijk[a] ?? 0) * stride;
    stride *= shape[a];
  }
  return idx;
}
