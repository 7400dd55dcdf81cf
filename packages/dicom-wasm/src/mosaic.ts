// Siemens mosaic -> volume, as rt-cloud's parseDicomVolume does, except that the slice count comes
// from the header (CSA NumberOfImagesInMosaic, or the SIEMENS MR HEADER copy of it) instead of a
// caller's guess, and the tile size follows from it (grid = ceil(sqrt(slices))).

import { csaValues, parseCsaHeader, CsaParseError } from './csa.js';
import { parseDicom, type DicomDataset } from './dataset.js';

export class MosaicError extends Error {
  readonly code = 'MOSAIC' as const;
  constructor(readonly reason: string, detail?: string) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = 'MosaicError';
  }
}

/** A box in volume coordinates (the mosaicToVolume layout), e.g. a region of interest. */
export interface RoiBox {
  /** Inclusive-exclusive bounds in volume coordinates (slice, row, column). */
  slice0: number;
  slice1: number;
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

export interface MosaicVolume {
  slices: number;
  /** Rows of one slice. */
  rows: number;
  /** Columns of one slice. */
  cols: number;
  /** slices * rows * cols values, slice-major: data[(s * rows + r) * cols + c]. */
  data: Int16Array | Uint16Array;
  /** Acquisition time of each slice in ms from the volume's start (MosaicRefAcqTimes), when known. */
  sliceTimes?: number[];
  /** Tiles per mosaic row (and column). */
  grid: number;
}

/** The private block start (0xgggg_xx00) of `creator` in `group`, or undefined. */
export function privateBlock(ds: DicomDataset, group: number, creator: string): number | undefined {
  for (let el = 0x10; el <= 0xff; el++) {
    const tag = ((group << 16) | el) >>> 0;
    if (!ds.has(tag)) continue;
    const v = ds.get(tag);
    const s = (Array.isArray(v) ? v.join('\\') : String(v ?? '')).trim();
    if (s === creator) return ((group << 16) | (el << 8)) >>> 0;
  }
  return undefined;
}

function elementBytes(ds: DicomDataset, tag: number): Uint8Array | undefined {
  const el = ds.element(tag);
  if (!el || el.length <= 0) return undefined;
  return ds.bytes.subarray(el.valueOffset, el.valueOffset + el.length);
}

function numbers(v: unknown): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>) : [v];
  const out = list.map((x) => (typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : parseFloat(String(x))));
  return out.length > 0 && out.every((x) => Number.isFinite(x)) ? out : undefined;
}

export interface MosaicInfo {
  slices: number;
  sliceTimes?: number[];
  /** Where the slice count came from. */
  source: 'CSA' | 'SIEMENS MR HEADER';
}

/** Slice count and slice times from the Siemens headers, or undefined when neither holds them. */
export function mosaicInfo(ds: DicomDataset): MosaicInfo | undefined {
  const csaBlock = privateBlock(ds, 0x0029, 'SIEMENS CSA HEADER');
  if (csaBlock !== undefined) {
    const raw = elementBytes(ds, csaBlock | 0x10);
    if (raw) {
      try {
        const csa = parseCsaHeader(raw);
        const n = numbers(csaValues(csa, 'NumberOfImagesInMosaic'));
        if (n && n[0] > 0) {
          const times = numbers(csaValues(csa, 'MosaicRefAcqTimes'));
          return { slices: n[0], sliceTimes: times?.slice(0, n[0]), source: 'CSA' };
        }
      } catch (e) {
        if (!(e instanceof CsaParseError)) throw e;
      }
    }
  }
  const mrBlock = privateBlock(ds, 0x0019, 'SIEMENS MR HEADER');
  if (mrBlock !== undefined) {
    const n = numbers(ds.get(mrBlock | 0x0a));
    if (n && n[0] > 0) {
      const times = numbers(ds.get(mrBlock | 0x29));
      return { slices: n[0], sliceTimes: times?.slice(0, n[0]), source: 'SIEMENS MR HEADER' };
    }
  }
  return undefined;
}

/**
 * Slice timing of a Siemens image: the acquisition time of each slice in ms from the start of the
 * volume (what dcm2niix writes as SliceTiming, in seconds), from the SIEMENS MR HEADER's
 * (0019,xx29) MosaicRefAcqTimes or else the CSA image header's, cut to NumberOfImagesInMosaic
 * when the image is a mosaic; undefined when neither holds it.
 */
export function sliceTimingOf(ds: DicomDataset): number[] | undefined {
  const info = mosaicInfo(ds);
  if (info?.sliceTimes && info.sliceTimes.length > 0) return info.sliceTimes;
  const direct = numbers(ds.get('MosaicRefAcqTimes'));
  if (direct && direct.length > 0) return direct;
  const csaBlock = privateBlock(ds, 0x0029, 'SIEMENS CSA HEADER');
  const raw = csaBlock === undefined ? undefined : elementBytes(ds, csaBlock | 0x10);
  if (!raw) return undefined;
  try {
    const times = numbers(csaValues(parseCsaHeader(raw), 'MosaicRefAcqTimes'));
    return times && times.length > 0 ? times : undefined;
  } catch (e) {
    if (!(e instanceof CsaParseError)) throw e;
    return undefined;
  }
}

/**
 * Cuts a Siemens mosaic into a volume (slices x rows x cols, slice-major). Throws MosaicError when
 * the file has no mosaic slice count (NumberOfImagesInMosaic in the CSA image header or the
 * SIEMENS MR HEADER), no 16-bit pixel data, or a grid that does not divide the image.
 */
export function mosaicToVolume(source: DicomDataset | Uint8Array): MosaicVolume {
  const ds = source instanceof Uint8Array ? parseDicom(source) : source;
  const info = mosaicInfo(ds);
  if (!info) {
    throw new MosaicError('not a Siemens mosaic', 'no NumberOfImagesInMosaic in a CSA image header (0029,xx10) or SIEMENS MR HEADER (0019,xx0A)');
  }
  const mRows = ds.getNumber('Rows');
  const mCols = ds.getNumber('Columns');
  if (!mRows || !mCols) throw new MosaicError('missing Rows/Columns');
  const grid = Math.ceil(Math.sqrt(info.slices));
  if (mRows % grid !== 0 || mCols % grid !== 0) {
    throw new MosaicError('mosaic grid does not divide the image', `${info.slices} slices -> ${grid}x${grid} tiles, image ${mRows}x${mCols}`);
  }
  const px = ds.pixelData();
  if (!(px instanceof Uint16Array || px instanceof Int16Array)) {
    throw new MosaicError('unsupported pixel data', Array.isArray(px) ? 'encapsulated (compressed) pixels' : px ? px.constructor.name : 'none');
  }
  if (px.length < mRows * mCols) throw new MosaicError('pixel data shorter than Rows x Columns', `${px.length} < ${mRows * mCols}`);
  const rows = mRows / grid;
  const cols = mCols / grid;
  const Ctor = px instanceof Int16Array ? Int16Array : Uint16Array;
  const data = new Ctor(info.slices * rows * cols);
  for (let s = 0; s < info.slices; s++) {
    const tr = Math.floor(s / grid) * rows;
    const tc = (s % grid) * cols;
    for (let r = 0; r < rows; r++) {
      const from = (tr + r) * mCols + tc;
      data.set(px.subarray(from, from + cols), (s * rows + r) * cols);
    }
  }
  const vol: MosaicVolume = { slices: info.slices, rows, cols, data, grid };
  if (info.sliceTimes && info.sliceTimes.length === info.slices) vol.sliceTimes = info.sliceTimes;
  return vol;
}
