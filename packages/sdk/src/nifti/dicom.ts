// DICOM -> NIfTI-1 in memory, two ways, each equal to the tool rt-cloud used for it:
//
//  * dicomToNifti(): what `dcm2niix -s y` writes (rt-cloud's convertDicomImgToNifti and
//    convertDicomFileToNifti ran dcm2niix): a Siemens mosaic, or a set of single-slice files of one
//    volume. Voxel order as dcm2niix stores it (i = DICOM column, j = DICOM row flipped so rows go
//    bottom to top, k = mosaic tile / slice ascending along cross(row, column) cosines), its
//    affine in sform and qform (code 1, 'scanner'), its header fields (datatype, dim_info,
//    slice_code, descrip, pixdim[4] = TR) and its SliceTiming (seconds, from MosaicRefAcqTimes in
//    the CSA header; for single-slice Siemens files from their AcquisitionTimes).
//  * mosaicToNii(): what nibabel's dicomreaders.mosaic_to_nii returns (rt-cloud's
//    saveAsNiftiImage and its sample script used it): i = DICOM row, j = DICOM column,
//    k = mosaic tile, sform code 2 ('aligned'), qform code 0, the DICOM's pixel type.
//
// Both put every voxel at the same world (RAS+ mm) position; they differ in voxel order only.
// Ported from dcm2niix (nii_dicom.cpp: set_nii_header_x, headerDcm2Nii, checkSliceTimes;
// nii_dicom_batch.cpp: nii_flipY, verify_slice_dir, sliceTimingSiemens2D) and nibabel
// (nicom/dicomwrappers.py: MosaicWrapper). No Node or DOM imports.

import { csaValues, isComplete, mosaicInfo, parseCsaHeader, type CsaHeader, type DicomDataset } from '@rtfmri/dicom-wasm';
import { cross, det3, dot, f32, matmul, norm, type Mat4 } from './affine.js';
import { NIFTI_SLICE, NIFTI_TYPE, NIFTI_XFORM, emptyHeader, setQform, setSform, type Nifti1Header } from './header.js';
import { niftiImage, type NiftiImage } from './image.js';

/** A DICOM that cannot become a NIfTI volume (missing geometry, no pixels, mixed series...). */
export class DicomToNiftiError extends Error {
  readonly code = 'DICOM_TO_NIFTI' as const;
  constructor(message: string) {
    super(message);
    this.name = 'DicomToNiftiError';
  }
}

// ---------------------------------------------------------------- reading the DICOM

function nums(v: unknown): number[] | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const list = Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>) : [v];
  const out = list.map((x) => (typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : parseFloat(String(x))));
  return out.length > 0 && out.every(Number.isFinite) ? out : undefined;
}

function num(ds: DicomDataset, key: string): number | undefined {
  return nums(ds.get(key))?.[0];
}

function str(ds: DicomDataset, key: string): string {
  const v = ds.get(key);
  return Array.isArray(v) ? v.join('\\') : v === undefined || v === null ? '' : String(v);
}

/** The private block (0xgggg_xx00) whose creator is `creator`. */
function privateBlock(ds: DicomDataset, group: number, creator: string): number | undefined {
  for (let el = 0x10; el <= 0xff; el++) {
    const tag = ((group << 16) | el) >>> 0;
    if (!ds.has(tag)) continue;
    const v = ds.get(tag);
    if ((Array.isArray(v) ? v.join('\\') : String(v ?? '')).trim() === creator) return ((group << 16) | (el << 8)) >>> 0;
  }
  return undefined;
}

/** The Siemens CSA image header (0029,xx10), parsed, or undefined. */
export function csaImageHeader(ds: DicomDataset): CsaHeader | undefined {
  const block = privateBlock(ds, 0x0029, 'SIEMENS CSA HEADER');
  if (block === undefined) return undefined;
  const el = ds.element((block | 0x10) >>> 0);
  if (!el || el.length <= 0) return undefined;
  try {
    return parseCsaHeader(ds.bytes.subarray(el.valueOffset, el.valueOffset + el.length));
  } catch {
    return undefined;
  }
}

function csaNums(h: CsaHeader | undefined, name: string): number[] | undefined {
  return h ? nums(csaValues(h, name)) : undefined;
}

interface Geometry {
  rows: number;
  cols: number;
  /** Row direction cosine (IOP[0..2]): moving along a row, column index increasing. */
  rowCos: number[];
  /** Column direction cosine (IOP[3..5]). */
  colCos: number[];
  ipp: number[];
  /** PixelSpacing: [between rows, between columns]. */
  spacing: [number, number];
  /** SpacingBetweenSlices, else SliceThickness, else 1. */
  zSpacing: number;
}

function geometry(ds: DicomDataset): Geometry {
  const rows = num(ds, 'Rows');
  const cols = num(ds, 'Columns');
  if (!rows || !cols) throw new DicomToNiftiError('no Rows/Columns: not an image');
  const iop = nums(ds.get('ImageOrientationPatient'));
  const ipp = nums(ds.get('ImagePositionPatient'));
  const ps = nums(ds.get('PixelSpacing'));
  if (!iop || iop.length < 6) throw new DicomToNiftiError('no ImageOrientationPatient (0020,0037): cannot place the voxels');
  if (!ipp || ipp.length < 3) throw new DicomToNiftiError('no ImagePositionPatient (0020,0032): cannot place the voxels');
  if (!ps || ps.length < 2) throw new DicomToNiftiError('no PixelSpacing (0028,0030): cannot size the voxels');
  const sbs = num(ds, 'SpacingBetweenSlices');
  const thick = num(ds, 'SliceThickness');
  return {
    rows, cols, rowCos: iop.slice(0, 3), colCos: iop.slice(3, 6), ipp: ipp.slice(0, 3), spacing: [ps[0], ps[1]],
    zSpacing: sbs !== undefined && sbs > 0 ? sbs : thick !== undefined && thick > 0 ? thick : 1,
  };
}

const unit = (v: number[]): number[] => {
  const n = norm(v);
  return n > 0 ? v.map((x) => x / n) : v;
};

/** LPS (DICOM) -> RAS (NIfTI): x and y change sign. */
const ras = (v: number[]): number[] => [-v[0], -v[1], v[2]];

interface Pixels {
  data: Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;
  signed: boolean;
  bitsAllocated: number;
  bitsStored: number;
}

function pixels(ds: DicomDataset): Pixels {
  const px = ds.pixelData();
  if (px === undefined) throw new DicomToNiftiError('no PixelData');
  if (Array.isArray(px)) throw new DicomToNiftiError('compressed (encapsulated) pixel data: decode it first (transfer syntax ' + ds.transferSyntaxUID + ')');
  const bitsAllocated = num(ds, 'BitsAllocated') ?? 16;
  const bitsStored = num(ds, 'BitsStored') ?? bitsAllocated;
  const spp = num(ds, 'SamplesPerPixel') ?? 1;
  if (spp !== 1) throw new DicomToNiftiError(`SamplesPerPixel ${spp}: only single-sample (grayscale) images`);
  if (!ArrayBuffer.isView(px) || px instanceof DataView) throw new DicomToNiftiError('unsupported pixel data');
  const p = px as Pixels['data'];
  return { data: p, signed: p instanceof Int8Array || p instanceof Int16Array || p instanceof Int32Array, bitsAllocated, bitsStored };
}

/** Acquisition time of day in seconds, from a DICOM TM (HHMMSS.ffffff, or with colons). */
function tmSeconds(tm: string): number | undefined {
  const m = /^(\d{2})(\d{2})?(\d{2})?(?:\.(\d+))?$/.exec(tm.trim().replace(/:/g, ''));
  if (!m) return undefined;
  return Number(m[1]) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) + (m[4] ? Number(`0.${m[4]}`) : 0);
}

// ---------------------------------------------------------------- dcm2niix's header

/** C printf's %.<p>g. */
export function formatG(x: number, p: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const prec = Math.max(1, p);
  const exp = Number(roundHalfEven(x, prec - 1, 'e').split('e')[1]);
  if (exp < prec && exp >= -4) {
    const s = roundHalfEven(x, prec - 1 - exp, 'f');
    return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
  }
  const [mant, e] = roundHalfEven(x, prec - 1, 'e').split('e');
  const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
  const en = Number(e);
  return `${m}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
}

/** toFixed / toExponential, but an exact tie rounds to even as glibc's printf does (JS rounds it up). */
function roundHalfEven(x: number, digits: number, kind: 'f' | 'e'): string {
  const s = kind === 'f' ? x.toFixed(digits) : x.toExponential(digits);
  const scaled = kind === 'f' ? x * 10 ** digits : x / 10 ** (Math.floor(Math.log10(Math.abs(x))) - digits);
  const frac = Math.abs(scaled) % 1;
  if (frac !== 0.5) return s;
  const down = Math.trunc(scaled);
  if (down % 2 === 0) {
    // JS rounded away from zero; glibc keeps the even neighbour.
    const towardZero = Math.sign(x) * (Math.abs(scaled) - 0.5);
    return kind === 'f' ? (towardZero / 10 ** digits).toFixed(digits) : (towardZero * 10 ** (Math.floor(Math.log10(Math.abs(x))) - digits)).toExponential(digits);
  }
  return s;
}

/** dcm2niix's slice order (nii_dicom.cpp checkSliceTimes) from the slice times. */
export function sliceOrderOf(times: number[]): number {
  const n = times.length;
  if (n < 3) return NIFTI_SLICE.UNKNOWN;
  const t = times.map(f32);
  let minV = t[0];
  if (Math.min(...t) < 0) {
    const m = Math.min(...t);
    for (let z = 0; z < n; z++) t[z] -= m;
  }
  const first = t[0];
  let nZero = t[0] === 0 ? 1 : 0;
  let minI = 0;
  let maxI = 0;
  minV = t[0];
  let maxV = t[0];
  let mb = 1;
  for (let z = 1; z < n; z++) {
    if (t[z] === 0) nZero++;
    if (t[z] < minV) { minV = t[z]; minI = z; }
    if (t[z] > maxV) { maxV = t[z]; maxI = z; }
    if (t[z] === first) mb++;
  }
  void maxI;
  void mb;
  let order: number = NIFTI_SLICE.UNKNOWN;
  if (nZero < 2) {
    if (minI === 1) order = NIFTI_SLICE.ALT_INC2;
    else if (minI === n - 2) order = NIFTI_SLICE.ALT_DEC2;
    else if (minI === 0 && t[1] < t[2]) order = NIFTI_SLICE.SEQ_INC;
    else if (minI === 0 && t[1] > t[2]) order = NIFTI_SLICE.ALT_INC;
    else if (minI === n - 1 && t[n - 3] > t[n - 2]) order = NIFTI_SLICE.SEQ_DEC;
    else if (minI === n - 1 && t[n - 3] < t[n - 2]) order = NIFTI_SLICE.ALT_DEC;
  }
  if (order !== NIFTI_SLICE.UNKNOWN && nZero > 1 && nZero < n) order = NIFTI_SLICE.UNKNOWN;
  return order;
}

function dcm2niixDatatype(px: Pixels, maxValue: () => number): number {
  const { bitsAllocated: ba, bitsStored: bs, signed } = px;
  if (ba === 8) return signed ? NIFTI_TYPE.INT8 : NIFTI_TYPE.UINT8;
  if (ba === 16) {
    if (signed) return NIFTI_TYPE.INT16;
    if (bs > 0 && bs < 16) return NIFTI_TYPE.INT16;
    // dcm2niix v1.0.20220720 (Debian 12): UINT16 saved as INT16 when that is lossless.
    return maxValue() <= 32767 ? NIFTI_TYPE.INT16 : NIFTI_TYPE.UINT16;
  }
  if (px.data instanceof Float32Array) return NIFTI_TYPE.FLOAT32;
  if (px.data instanceof Float64Array) return NIFTI_TYPE.FLOAT64;
  if (ba === 32) return signed ? NIFTI_TYPE.INT32 : NIFTI_TYPE.UINT32;
  throw new DicomToNiftiError(`unsupported BitsAllocated ${ba}`);
}

function allocFor(datatype: number, n: number): Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array {
  switch (datatype) {
    case NIFTI_TYPE.UINT8: return new Uint8Array(n);
    case NIFTI_TYPE.INT8: return new Int8Array(n);
    case NIFTI_TYPE.INT16: return new Int16Array(n);
    case NIFTI_TYPE.UINT16: return new Uint16Array(n);
    case NIFTI_TYPE.INT32: return new Int32Array(n);
    case NIFTI_TYPE.UINT32: return new Uint32Array(n);
    case NIFTI_TYPE.FLOAT32: return new Float32Array(n);
    default: return new Float64Array(n);
  }
}

function baseHeader(first: DicomDataset, csa: CsaHeader | undefined, shape: number[], datatype: number, bitpix: number): Nifti1Header {
  const h = emptyHeader();
  h.regular = 114;
  h.dim = [3, shape[0], shape[1], shape[2], 1, 1, 1, 1];
  h.datatype = datatype;
  h.bitpix = bitpix;
  h.pixdim = [1, 0, 0, 0, 0, 0, 0, 0];
  const tr = num(first, 'RepetitionTime');
  h.pixdim[4] = f32((tr ?? 0) / 1000);
  h.scl_slope = num(first, 'RescaleSlope') ?? 1;
  h.scl_inter = num(first, 'RescaleIntercept') ?? 0;
  h.xyzt_units = 10; // mm + s
  h.vox_offset = 352;
  const modality = str(first, 'Modality').trim();
  const te = num(first, 'EchoTime') ?? 0;
  const acq = parseFloat(str(first, 'AcquisitionTime')) || 0;
  let descrip = modality === 'MR' || modality === '' ? `TE=${formatG(te, 2)};Time=${acq.toFixed(3)}` : `Time=${acq.toFixed(3)}`;
  const phasePos = csaNums(csa, 'PhaseEncodingDirectionPositive')?.[0];
  if (phasePos !== undefined && phasePos >= 0) descrip += `;phase=${Math.round(phasePos)}`;
  h.descrip = descrip.slice(0, 79);
  const comments = str(first, 'ImageComments').trim();
  if (comments) h.aux_file = comments.slice(0, 23);
  const pe = str(first, 'InPlanePhaseEncodingDirection').trim().toUpperCase();
  h.dim_info = pe.startsWith('ROW') ? (3 << 4) + (1 << 2) + 2 : pe.startsWith('COL') ? (3 << 4) + (2 << 2) + 1 : 0;
  h.scl_slope = f32(h.scl_slope);
  h.scl_inter = f32(h.scl_inter);
  return h;
}

/** dcm2niix's affine for voxel (i = column, j = row flipped, k): RAS, qform and sform code 1. */
function finishDcm2niix(h: Nifti1Header, q44: Mat4, rows: number): Mat4 {
  // nii_flipY: j runs from the last DICOM row to the first.
  const a = q44.map((r) => r.slice());
  for (let r = 0; r < 3; r++) {
    a[r][3] = a[r][3] + a[r][1] * (rows - 1);
    a[r][1] = -a[r][1];
  }
  const af = a.map((row, r) => (r < 3 ? row.map(f32) : row));
  setSform(h, af, NIFTI_XFORM.SCANNER_ANAT);
  setQform(h, af, NIFTI_XFORM.SCANNER_ANAT, { zooms: false });
  return af;
}

/** nifti_dicom2mat: LPS affine of (i = column, j = row, k) from the orientation, spacing and position. */
function dicom2mat(g: Geometry, zMM: number): Mat4 {
  const r = unit(g.rowCos);
  const c = unit(g.colCos);
  const n = cross(r, c);
  const xyz = [g.spacing[1], g.spacing[0], zMM];
  // In double precision, rounded to float32 once at the end (dcm2niix's own float arithmetic
  // differs from this by < 1e-4 mm; computing in double matches its output more closely).
  return [
    [r[0] * xyz[0], c[0] * xyz[1], n[0] * xyz[2], g.ipp[0]],
    [r[1] * xyz[0], c[1] * xyz[1], n[1] * xyz[2], g.ipp[1]],
    [r[2] * xyz[0], c[2] * xyz[1], n[2] * xyz[2], g.ipp[2]],
    [0, 0, 0, 1],
  ];
}

export interface DicomToNiftiOptions {
  /** Keep 12-bit data unmasked (dcm2niix masks BitsStored 12 values with & 4095). Default false. */
  noMask12Bit?: boolean;
}

/**
 * A Siemens mosaic, or the single-slice files of one volume, as dcm2niix (`-s y`) converts it:
 * same voxel order, affine, qform/sform, header and SliceTiming (on `sliceTimes`, seconds).
 * Throws DicomToNiftiError for what cannot be converted.
 */
export function dicomToNifti(input: DicomDataset | DicomDataset[], opts: DicomToNiftiOptions = {}): NiftiImage {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw new DicomToNiftiError('no DICOM given');
  for (const ds of list) {
    if (!isComplete(ds.bytes)) throw new DicomToNiftiError('DICOM may be corrupted or truncated (incomplete data set or pixel data)');
  }
  if (list.length === 1) {
    const info = mosaicInfo(list[0]);
    if (info && info.slices > 1) return mosaicDcm2niix(list[0], info.slices, info.sliceTimes, opts);
  } else if (list.some((ds) => (mosaicInfo(ds)?.slices ?? 0) > 1)) {
    throw new DicomToNiftiError('several mosaics given: convert one volume (one mosaic) at a time');
  }
  return sliceSeriesDcm2niix(list, opts);
}

function voxelCopy(px: Pixels, datatype: number, n: number, at: (out: ReturnType<typeof allocFor>) => void, opts: DicomToNiftiOptions): ReturnType<typeof allocFor> {
  const out = allocFor(datatype, n);
  at(out);
  if (!opts.noMask12Bit && datatype === NIFTI_TYPE.INT16 && px.bitsAllocated === 16 && px.bitsStored === 12) {
    const o = out as Int16Array;
    if (px.signed) for (let i = 0; i < o.length; i++) o[i] = ((o[i] & 4095) << 20) >> 20;
    else for (let i = 0; i < o.length; i++) o[i] &= 4095;
  }
  return out;
}

function maxOf(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

function mosaicDcm2niix(ds: DicomDataset, slices: number, times: number[] | undefined, opts: DicomToNiftiOptions): NiftiImage {
  const g = geometry(ds);
  const csa = csaImageHeader(ds);
  const grid = Math.ceil(Math.sqrt(slices));
  if (g.rows % grid !== 0 || g.cols % grid !== 0) throw new DicomToNiftiError(`mosaic ${g.rows}x${g.cols} does not split into ${grid}x${grid} tiles`);
  const rows = g.rows / grid;
  const cols = g.cols / grid;
  const px = pixels(ds);
  if (px.data.length < g.rows * g.cols) throw new DicomToNiftiError('pixel data shorter than Rows x Columns');
  const datatype = dcm2niixDatatype(px, () => maxOf(px.data as ArrayLike<number>));
  // ProtocolSliceNumber > 1 on the first image: Siemens stored the slices in reverse (dcm2niix flips z).
  const psn = csaNums(csa, 'ProtocolSliceNumber')?.[0] ?? 0;
  const reversed = psn > 1;
  const n = rows * cols * slices;
  const src = px.data;
  const data = voxelCopy(px, datatype, n, (out) => {
    for (let s = 0; s < slices; s++) {
      const k = reversed ? slices - 1 - s : s;
      const tr = Math.floor(s / grid) * rows;
      const tc = (s % grid) * cols;
      for (let r = 0; r < rows; r++) {
        const j = rows - 1 - r;
        const from = (tr + r) * g.cols + tc;
        const to = (k * rows + j) * cols;
        for (let c = 0; c < cols; c++) (out as Uint16Array)[to + c] = src[from + c] as number;
      }
    }
  }, opts);
  const h = baseHeader(ds, csa, [cols, rows, slices], datatype, data.BYTES_PER_ELEMENT * 8);
  // set_nii_header_x, mosaic branch.
  const q = dicom2mat(g, g.zSpacing);
  const lx = (g.cols - g.cols / grid) / 2;
  const ly = (g.rows - g.rows / grid) / 2;
  for (let r = 0; r < 3; r++) q[r][3] = q[r][0] * lx + q[r][1] * ly + q[r][3];
  for (let r = 0; r < 2; r++) for (let c = 0; c < 4; c++) q[r][c] = -q[r][c];
  const normal = csaNums(csa, 'SliceNormalVector');
  if (normal && normal.length >= 3) {
    const m = [
      [g.rowCos[0], g.colCos[0], normal[0]],
      [g.rowCos[1], g.colCos[1], normal[1]],
      [g.rowCos[2], g.colCos[2], normal[2]],
    ];
    if (det3(m) < 0) for (let r = 0; r < 3; r++) q[r][2] = -q[r][2];
  }
  if (reversed) {
    // nii_flipZ: the first voxel plane is the last slice.
    for (let r = 0; r < 3; r++) {
      q[r][3] = q[r][3] + q[r][2] * (slices - 1);
      q[r][2] = -q[r][2];
    }
  }
  h.pixdim[1] = f32(g.spacing[1]);
  h.pixdim[2] = f32(g.spacing[0]);
  h.pixdim[3] = f32(g.zSpacing);
  let sliceTimes: number[] | undefined;
  if (times && times.length >= slices && slices > 1) {
    let t = times.slice(0, slices).map(f32);
    const mn = Math.min(...t);
    if (mn < 0) t = t.map((x) => x - mn);
    h.slice_code = reversed ? NIFTI_SLICE.UNKNOWN : sliceOrderOf(times.slice(0, slices));
    if (reversed) t.reverse();
    if (!t.every((x) => x === t[0])) sliceTimes = t.map((x) => x / 1000);
  }
  const affine = finishDcm2niix(h, q, rows);
  const img = niftiImage(data, [cols, rows, slices], affine, h);
  img.header = h;
  if (sliceTimes) img.sliceTimes = sliceTimes;
  return img;
}

function sliceSeriesDcm2niix(list: DicomDataset[], opts: DicomToNiftiOptions): NiftiImage {
  // dcm2niix orders the files by InstanceNumber, then flips the stack when it runs against the normal.
  const sorted = list
    .map((ds, i) => ({ ds, i, inst: num(ds, 'InstanceNumber') ?? i }))
    .sort((a, b) => a.inst - b.inst || a.i - b.i)
    .map((e) => e.ds);
  const first = sorted[0];
  const g = geometry(first);
  const geos = sorted.map(geometry);
  for (const o of geos) {
    if (o.rows !== g.rows || o.cols !== g.cols) throw new DicomToNiftiError('slices of different sizes: not one volume');
    const d = Math.max(...[0, 1, 2].map((k) => Math.abs(o.rowCos[k] - g.rowCos[k])), ...[0, 1, 2].map((k) => Math.abs(o.colCos[k] - g.colCos[k])));
    if (d > 1e-4) throw new DicomToNiftiError('slices with different orientations: not one volume');
  }
  const nz = sorted.length;
  const pxs = sorted.map(pixels);
  const px0 = pxs[0];
  const datatype = dcm2niixDatatype(px0, () => Math.max(...pxs.map((p) => maxOf(p.data as ArrayLike<number>))));
  const normal = cross(unit(g.rowCos), unit(g.colCos));
  const along = geos.map((o) => dot(o.ipp, normal));
  const flipZ = nz > 1 && along[nz - 1] < along[0];
  const rows = g.rows;
  const cols = g.cols;
  const data = voxelCopy(px0, datatype, rows * cols * nz, (out) => {
    for (let s = 0; s < nz; s++) {
      const k = flipZ ? nz - 1 - s : s;
      const src = pxs[s].data;
      if (src.length < rows * cols) throw new DicomToNiftiError('pixel data shorter than Rows x Columns');
      for (let r = 0; r < rows; r++) {
        const j = rows - 1 - r;
        const to = (k * rows + j) * cols;
        for (let c = 0; c < cols; c++) (out as Uint16Array)[to + c] = src[r * cols + c] as number;
      }
    }
  }, opts);
  const dz = nz > 1 ? Math.hypot(...[0, 1, 2].map((k) => geos[0].ipp[k] - geos[1].ipp[k])) : g.zSpacing;
  const csa = csaImageHeader(first);
  const h = baseHeader(first, csa, [cols, rows, nz], datatype, data.BYTES_PER_ELEMENT * 8);
  const q = dicom2mat(g, dz);
  if (flipZ) for (let r = 0; r < 3; r++) q[r][2] = -q[r][2];
  for (let r = 0; r < 2; r++) for (let c = 0; c < 4; c++) q[r][c] = -q[r][c];
  if (flipZ) {
    for (let r = 0; r < 3; r++) {
      q[r][3] = q[r][3] + q[r][2] * (nz - 1);
      q[r][2] = -q[r][2];
    }
  }
  h.pixdim[1] = f32(g.spacing[1]);
  h.pixdim[2] = f32(g.spacing[0]);
  h.pixdim[3] = f32(dz);
  // Slice timing of single-slice Siemens files: their AcquisitionTimes (dcm2niix sliceTimingSiemens2D).
  let sliceTimes: number[] | undefined;
  const siemens = /siemens/i.test(str(first, 'Manufacturer'));
  if (nz > 1 && siemens && str(first, 'MRAcquisitionType').trim() !== '3D') {
    const secs = sorted.map((ds) => tmSeconds(str(ds, 'AcquisitionTime')));
    if (secs.every((x): x is number => x !== undefined)) {
      let t = secs.slice();
      if (Math.max(...t) - Math.min(...t) > 43200) t = t.map((x) => (x > 43200 ? x - 86400 : x));
      const mn = Math.min(...t);
      t = t.map((x) => x - mn);
      if (flipZ) t.reverse();
      if (!t.every((x) => x === t[0])) sliceTimes = t;
    }
  }
  const affine = finishDcm2niix(h, q, rows);
  const img = niftiImage(data, [cols, rows, nz], affine, h);
  img.header = h;
  if (sliceTimes) img.sliceTimes = sliceTimes;
  return img;
}

// ---------------------------------------------------------------- nibabel's mosaic_to_nii

/** nibabel's DPCS_TO_TAL: DICOM LPS -> RAS. */
const DPCS_TO_TAL: Mat4 = [
  [-1, 0, 0, 0],
  [0, -1, 0, 0],
  [0, 0, 1, 0],
  [0, 0, 0, 1],
];

/**
 * nibabel's dicomreaders.mosaic_to_nii(dcm_data): voxel (i = row, j = column, k = tile), the
 * DICOM's pixel type (RescaleSlope/Intercept applied as float64 when present, as nibabel does),
 * affine = DPCS_TO_TAL x (rotation [column cosine, row cosine, slice normal] x voxel sizes, and
 * the Siemens mosaic position fix), sform code 2, qform code 0.
 */
export function mosaicToNii(ds: DicomDataset): NiftiImage {
  const csa = csaImageHeader(ds);
  const nMosaic = csaNums(csa, 'NumberOfImagesInMosaic')?.[0] ?? mosaicInfo(ds)?.slices;
  const imageType = str(ds, 'ImageType').toUpperCase();
  if (!nMosaic || !imageType.includes('MOSAIC')) throw new DicomToNiftiError('data does not appear to be in mosaic format');
  const g = geometry(ds);
  const grid = Math.ceil(Math.sqrt(nMosaic));
  if (g.rows % grid !== 0 || g.cols % grid !== 0) throw new DicomToNiftiError(`mosaic ${g.rows}x${g.cols} does not split into ${grid}x${grid} tiles`);
  const rows = g.rows / grid;
  const cols = g.cols / grid;
  const px = pixels(ds);
  const slope = num(ds, 'RescaleSlope');
  const inter = num(ds, 'RescaleIntercept');
  const scaled = (slope !== undefined && slope !== 1) || (inter !== undefined && inter !== 0);
  const n = rows * cols * nMosaic;
  const Ctor = scaled ? Float64Array : (px.data.constructor as new (n: number) => Pixels['data']);
  const data = new Ctor(n);
  for (let s = 0; s < nMosaic; s++) {
    const tr = Math.floor(s / grid) * rows;
    const tc = (s % grid) * cols;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = px.data[(tr + r) * g.cols + tc + c] as number;
        data[r + rows * (c + cols * s)] = scaled ? v * (slope ?? 1) + (inter ?? 0) : v;
      }
    }
  }
  const rowCos = g.rowCos;
  const colCos = g.colCos;
  let normal = cross(colCos, rowCos);
  const csaNormal = csaNums(csa, 'SliceNormalVector');
  if (csaNormal && csaNormal.length >= 3 && dot(csaNormal, normal) < 0) normal = normal.map((x) => -x) as typeof normal;
  const vox = [g.spacing[0], g.spacing[1], g.zSpacing];
  const rot = [colCos, rowCos, normal];
  const fix = [(g.rows - rows) / 2, (g.cols - cols) / 2];
  const ipp = [0, 1, 2].map((k) => g.ipp[k] + colCos[k] * g.spacing[0] * fix[0] + rowCos[k] * g.spacing[1] * fix[1]);
  const dicomAff: Mat4 = [
    [rot[0][0] * vox[0], rot[1][0] * vox[1], rot[2][0] * vox[2], ipp[0]],
    [rot[0][1] * vox[0], rot[1][1] * vox[1], rot[2][1] * vox[2], ipp[1]],
    [rot[0][2] * vox[0], rot[1][2] * vox[1], rot[2][2] * vox[2], ipp[2]],
    [0, 0, 0, 1],
  ];
  const affine = matmul(DPCS_TO_TAL, dicomAff);
  return niftiImage(data, [rows, cols, nMosaic], affine);
}

/** LPS->RAS of a vector; exported for tests that place voxels by hand. */
export const lpsToRas = ras;
