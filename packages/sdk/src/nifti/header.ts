// The NIfTI-1 header (348 bytes, https://nifti.nimh.nih.gov/pub/dist/src/niftilib/nifti1.h): its
// fields by their nifti1.h names (nibabel's header keys), read in either byte order, written little
// endian. No Node or DOM imports.

import { mat44ToQuatern, quaternToMat44, f32, type Mat4 } from './affine.js';

/** NIfTI-1 datatype codes this module reads and writes, and their typed arrays. */
export const NIFTI_TYPE = {
  UINT8: 2,
  INT16: 4,
  INT32: 8,
  FLOAT32: 16,
  FLOAT64: 64,
  INT8: 256,
  UINT16: 512,
  UINT32: 768,
  INT64: 1024,
  UINT64: 1280,
} as const;

export type NiftiData =
  | Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

type TypedCtor = { new (n: number): NiftiData; new (b: ArrayBuffer, o: number, n: number): NiftiData; BYTES_PER_ELEMENT: number };

const CTORS: Record<number, TypedCtor> = {
  2: Uint8Array as unknown as TypedCtor,
  4: Int16Array as unknown as TypedCtor,
  8: Int32Array as unknown as TypedCtor,
  16: Float32Array as unknown as TypedCtor,
  64: Float64Array as unknown as TypedCtor,
  256: Int8Array as unknown as TypedCtor,
  512: Uint16Array as unknown as TypedCtor,
  768: Uint32Array as unknown as TypedCtor,
  1024: BigInt64Array as unknown as TypedCtor,
  1280: BigUint64Array as unknown as TypedCtor,
};

/** The typed array class of a datatype code, or undefined when not supported. */
export function ctorOf(datatype: number): TypedCtor | undefined {
  return CTORS[datatype];
}

/** The datatype code of a typed array. */
export function datatypeOf(data: NiftiData): number {
  for (const [code, C] of Object.entries(CTORS)) if (data instanceof (C as unknown as typeof Uint8Array)) return Number(code);
  throw new TypeError('unsupported voxel array type');
}

/** xform codes (qform_code, sform_code). */
export const NIFTI_XFORM = { UNKNOWN: 0, SCANNER_ANAT: 1, ALIGNED_ANAT: 2, TALAIRACH: 3, MNI_152: 4 } as const;
/** slice_code values. */
export const NIFTI_SLICE = { UNKNOWN: 0, SEQ_INC: 1, SEQ_DEC: 2, ALT_INC: 3, ALT_DEC: 4, ALT_INC2: 5, ALT_DEC2: 6 } as const;

/** Every NIfTI-1 header field, by its nifti1.h name. Floats hold what a float32 can. */
export interface Nifti1Header {
  sizeof_hdr: number;
  data_type: string;
  db_name: string;
  extents: number;
  session_error: number;
  regular: number;
  dim_info: number;
  /** dim[0] = number of dimensions, dim[1..7] their sizes. */
  dim: number[];
  intent_p1: number;
  intent_p2: number;
  intent_p3: number;
  intent_code: number;
  datatype: number;
  bitpix: number;
  slice_start: number;
  /** pixdim[0] = qfac, pixdim[1..3] voxel sizes, pixdim[4] TR (seconds with xyzt_units 10). */
  pixdim: number[];
  vox_offset: number;
  scl_slope: number;
  scl_inter: number;
  slice_end: number;
  slice_code: number;
  xyzt_units: number;
  cal_max: number;
  cal_min: number;
  slice_duration: number;
  toffset: number;
  glmax: number;
  glmin: number;
  descrip: string;
  aux_file: string;
  qform_code: number;
  sform_code: number;
  quatern_b: number;
  quatern_c: number;
  quatern_d: number;
  qoffset_x: number;
  qoffset_y: number;
  qoffset_z: number;
  srow_x: number[];
  srow_y: number[];
  srow_z: number[];
  intent_name: string;
  magic: string;
}

export const NIFTI1_HEADER_SIZE = 348;
/** Header + the 4-byte extension flag: where a single-file (.nii) image's voxels start. */
export const NIFTI1_VOX_OFFSET = 352;

/** An empty header as nibabel's Nifti1Header() makes it (scl_slope/scl_inter NaN: unset). */
export function emptyHeader(): Nifti1Header {
  return {
    sizeof_hdr: 348, data_type: '', db_name: '', extents: 0, session_error: 0, regular: 0, dim_info: 0,
    dim: [0, 1, 1, 1, 1, 1, 1, 1], intent_p1: 0, intent_p2: 0, intent_p3: 0, intent_code: 0, datatype: NIFTI_TYPE.FLOAT32,
    bitpix: 32, slice_start: 0, pixdim: [1, 1, 1, 1, 1, 1, 1, 1], vox_offset: NIFTI1_VOX_OFFSET, scl_slope: NaN, scl_inter: NaN,
    slice_end: 0, slice_code: 0, xyzt_units: 0, cal_max: 0, cal_min: 0, slice_duration: 0, toffset: 0, glmax: 0, glmin: 0,
    descrip: '', aux_file: '', qform_code: 0, sform_code: 0, quatern_b: 0, quatern_c: 0, quatern_d: 0, qoffset_x: 0,
    qoffset_y: 0, qoffset_z: 0, srow_x: [0, 0, 0, 0], srow_y: [0, 0, 0, 0], srow_z: [0, 0, 0, 0], intent_name: '', magic: 'n+1',
  };
}

export function cloneHeader(h: Nifti1Header): Nifti1Header {
  return { ...h, dim: h.dim.slice(), pixdim: h.pixdim.slice(), srow_x: h.srow_x.slice(), srow_y: h.srow_y.slice(), srow_z: h.srow_z.slice() };
}

function readStr(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  let s = '';
  for (let i = off; i < end; i++) s += String.fromCharCode(b[i]);
  return s;
}

function writeStr(b: Uint8Array, off: number, len: number, s: string): void {
  for (let i = 0; i < len; i++) b[off + i] = i < s.length ? s.charCodeAt(i) & 0xff : 0;
}

/** The byte order of a NIfTI-1 header (sizeof_hdr = 348), or undefined when it is not one. */
export function niftiByteOrder(bytes: Uint8Array): 'LE' | 'BE' | undefined {
  if (bytes.byteLength < NIFTI1_HEADER_SIZE) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getInt32(0, true) === 348) return 'LE';
  if (v.getInt32(0, false) === 348) return 'BE';
  return undefined;
}

/** Reads the 348-byte header (either byte order). Throws RangeError when it is not NIfTI-1. */
export function decodeNifti1Header(bytes: Uint8Array): Nifti1Header & { littleEndian: boolean } {
  const order = niftiByteOrder(bytes);
  if (!order) {
    const v = bytes.byteLength >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4) : undefined;
    if (v && (v.getInt32(0, true) === 540 || v.getInt32(0, false) === 540)) throw new RangeError('NIfTI-2 files are not supported (NIfTI-1 only)');
    throw new RangeError('not a NIfTI-1 file (sizeof_hdr is not 348)');
  }
  const le = order === 'LE';
  const v = new DataView(bytes.buffer, bytes.byteOffset, NIFTI1_HEADER_SIZE);
  const i16 = (o: number) => v.getInt16(o, le);
  const i32 = (o: number) => v.getInt32(o, le);
  const f = (o: number) => v.getFloat32(o, le);
  const arr = (o: number, n: number, get: (o: number) => number, size: number) => Array.from({ length: n }, (_, k) => get(o + k * size));
  return {
    littleEndian: le,
    sizeof_hdr: 348,
    data_type: readStr(bytes, 4, 10),
    db_name: readStr(bytes, 14, 18),
    extents: i32(32),
    session_error: i16(36),
    regular: bytes[38],
    dim_info: bytes[39],
    dim: arr(40, 8, i16, 2),
    intent_p1: f(56),
    intent_p2: f(60),
    intent_p3: f(64),
    intent_code: i16(68),
    datatype: i16(70),
    bitpix: i16(72),
    slice_start: i16(74),
    pixdim: arr(76, 8, f, 4),
    vox_offset: f(108),
    scl_slope: f(112),
    scl_inter: f(116),
    slice_end: i16(120),
    slice_code: bytes[122],
    xyzt_units: bytes[123],
    cal_max: f(124),
    cal_min: f(128),
    slice_duration: f(132),
    toffset: f(136),
    glmax: i32(140),
    glmin: i32(144),
    descrip: readStr(bytes, 148, 80),
    aux_file: readStr(bytes, 228, 24),
    qform_code: i16(252),
    sform_code: i16(254),
    quatern_b: f(256),
    quatern_c: f(260),
    quatern_d: f(264),
    qoffset_x: f(268),
    qoffset_y: f(272),
    qoffset_z: f(276),
    srow_x: arr(280, 4, f, 4),
    srow_y: arr(296, 4, f, 4),
    srow_z: arr(312, 4, f, 4),
    intent_name: readStr(bytes, 328, 16),
    magic: readStr(bytes, 344, 4),
  };
}

/** Writes the header (little endian) plus the 4 zero extension bytes: 352 bytes. */
export function encodeNifti1Header(h: Nifti1Header): Uint8Array {
  const b = new Uint8Array(NIFTI1_VOX_OFFSET);
  const v = new DataView(b.buffer);
  const i16 = (o: number, x: number) => v.setInt16(o, x, true);
  const i32 = (o: number, x: number) => v.setInt32(o, x, true);
  const f = (o: number, x: number) => v.setFloat32(o, x, true);
  i32(0, 348);
  writeStr(b, 4, 10, h.data_type);
  writeStr(b, 14, 18, h.db_name);
  i32(32, h.extents);
  i16(36, h.session_error);
  b[38] = h.regular;
  b[39] = h.dim_info;
  for (let k = 0; k < 8; k++) i16(40 + 2 * k, h.dim[k] ?? 0);
  f(56, h.intent_p1);
  f(60, h.intent_p2);
  f(64, h.intent_p3);
  i16(68, h.intent_code);
  i16(70, h.datatype);
  i16(72, h.bitpix);
  i16(74, h.slice_start);
  for (let k = 0; k < 8; k++) f(76 + 4 * k, h.pixdim[k] ?? 0);
  f(108, h.vox_offset);
  f(112, h.scl_slope);
  f(116, h.scl_inter);
  i16(120, h.slice_end);
  b[122] = h.slice_code;
  b[123] = h.xyzt_units;
  f(124, h.cal_max);
  f(128, h.cal_min);
  f(132, h.slice_duration);
  f(136, h.toffset);
  i32(140, h.glmax);
  i32(144, h.glmin);
  writeStr(b, 148, 80, h.descrip);
  writeStr(b, 228, 24, h.aux_file);
  i16(252, h.qform_code);
  i16(254, h.sform_code);
  f(256, h.quatern_b);
  f(260, h.quatern_c);
  f(264, h.quatern_d);
  f(268, h.qoffset_x);
  f(272, h.qoffset_y);
  f(276, h.qoffset_z);
  for (let k = 0; k < 4; k++) {
    f(280 + 4 * k, h.srow_x[k]);
    f(296 + 4 * k, h.srow_y[k]);
    f(312 + 4 * k, h.srow_z[k]);
  }
  writeStr(b, 328, 16, h.intent_name);
  writeStr(b, 344, 4, h.magic);
  return b;
}

/** The sform matrix (srow_x/y/z) as a 4x4 affine. */
export function getSform(h: Nifti1Header): Mat4 {
  return [h.srow_x.slice(0, 4), h.srow_y.slice(0, 4), h.srow_z.slice(0, 4), [0, 0, 0, 1]];
}

/** The qform as a 4x4 affine (quaternion, qoffset, pixdim and qfac). */
export function getQform(h: Nifti1Header): Mat4 {
  const qfac = h.pixdim[0] === 0 ? 1 : h.pixdim[0];
  return quaternToMat44(h.quatern_b, h.quatern_c, h.quatern_d, h.qoffset_x, h.qoffset_y, h.qoffset_z, h.pixdim[1], h.pixdim[2], h.pixdim[3], qfac);
}

/**
 * The affine a reader uses (nibabel's get_best_affine): the sform when sform_code > 0, else the
 * qform when qform_code > 0, else the ANALYZE "base" affine (voxel sizes, x flipped, origin at
 * the centre).
 */
export function headerAffine(h: Nifti1Header): Mat4 {
  if (h.sform_code > 0) return getSform(h);
  if (h.qform_code > 0) return getQform(h);
  const n = h.dim[0];
  const size = [1, 2, 3].map((k) => (k <= n ? h.dim[k] : 1));
  const zooms = [1, 2, 3].map((k) => (k <= n ? Math.abs(h.pixdim[k]) : 1));
  const origin = size.map((s) => (s - 1) / 2);
  return [
    [-zooms[0], 0, 0, origin[0] * zooms[0]],
    [0, zooms[1], 0, -origin[1] * zooms[1]],
    [0, 0, zooms[2], -origin[2] * zooms[2]],
    [0, 0, 0, 1],
  ];
}

/** Sets srow_x/y/z from an affine and sform_code (nibabel's set_sform). Values are stored as float32. */
export function setSform(h: Nifti1Header, affine: Mat4, code: number): void {
  h.srow_x = affine[0].slice(0, 4).map(f32);
  h.srow_y = affine[1].slice(0, 4).map(f32);
  h.srow_z = affine[2].slice(0, 4).map(f32);
  h.sform_code = code;
}

/**
 * Sets the qform from an affine (nifti_mat44_to_quatern: quaternion, offsets, qfac in pixdim[0]);
 * `zooms: true` (nibabel's set_qform) also writes the column lengths into pixdim[1..3].
 */
export function setQform(h: Nifti1Header, affine: Mat4, code: number, opts: { zooms?: boolean } = {}): void {
  const q = mat44ToQuatern(affine);
  h.quatern_b = f32(q.quatern_b);
  h.quatern_c = f32(q.quatern_c);
  h.quatern_d = f32(q.quatern_d);
  h.qoffset_x = f32(q.qoffset_x);
  h.qoffset_y = f32(q.qoffset_y);
  h.qoffset_z = f32(q.qoffset_z);
  h.pixdim[0] = q.qfac;
  if (opts.zooms !== false) {
    h.pixdim[1] = f32(q.dx);
    h.pixdim[2] = f32(q.dy);
    h.pixdim[3] = f32(q.dz);
  }
  h.qform_code = code;
}

/** The array shape the header describes: dim[1..dim[0]]. */
export function shapeOf(h: Nifti1Header): number[] {
  const n = h.dim[0];
  if (!(n >= 1 && n <= 7)) throw new RangeError(`dim[0] must be 1..7 (is ${n})`);
  return h.dim.slice(1, n + 1);
}

/** Labels of the codes, as nibabel prints them. */
export const XFORM_LABELS: Record<number, string> = { 0: 'unknown', 1: 'scanner', 2: 'aligned', 3: 'talairach', 4: 'mni' };
export const SLICE_LABELS: Record<number, string> = {
  0: 'unknown', 1: 'sequential increasing', 2: 'sequential decreasing', 3: 'alternating increasing',
  4: 'alternating decreasing', 5: 'alternating increasing 2', 6: 'alternating decreasing 2',
};
