// DICOM work done next to the link (in the worker): mosaic -> volume, the ROI mean, and an 8-bit
// RGBA picture ready for putImageData, so the page only blits.
import { mosaicInfo, mosaicToVolume, type DicomDataset, type RoiBox } from '@rtfmri/dicom-wasm/parse';

export interface FrameView {
  /** 'mosaic' draws the whole image as stored; 'slice' one slice of the volume. Default 'mosaic'. */
  mode?: 'mosaic' | 'slice';
  /** Slice for mode 'slice' (default: the middle one). */
  slice?: number;
  /** ROI box in volume coordinates (default: a small box at the centre). */
  roi?: RoiBox;
  /** Fixed display window; default: from the first frame of the stream (kept, so intensities compare). */
  window?: [number, number];
  /** A frame is marked late when it arrives more than this many ms after its acquisition began (default two TRs, or 4000). */
  lateAfterMs?: number;
}

export interface VolumeFrame {
  width: number;
  height: number;
  /** width * height * 4 bytes, RGBA. */
  rgba: Uint8ClampedArray;
  /** Mean of the ROI voxels. */
  roi: number;
  slices: number;
  window: [number, number];
  transferSyntaxUID: string;
  /** True when the pixels had to be decompressed (JPEG, JPEG 2000, ...). */
  decoded: boolean;
}

type Pixels = Int16Array | Uint16Array | Uint8Array | Float32Array;

export interface Volume {
  slices: number;
  rows: number;
  cols: number;
  data: Pixels;
  /** The image as stored (the mosaic), for mode 'mosaic'. */
  image: { rows: number; cols: number; data: Pixels };
}

/** A pixel decoder for compressed transfer syntaxes (e.g. @cornerstonejs/dicom-image-loader's codecs). */
export type PixelDecoder = (ds: DicomDataset) => Promise<Pixels>;

export async function toVolume(ds: DicomDataset, decode?: PixelDecoder): Promise<{ vol: Volume; decoded: boolean }> {
  const rows = ds.getNumber('Rows') ?? 0;
  const cols = ds.getNumber('Columns') ?? 0;
  let px = ds.pixelData();
  let decoded = false;
  if (Array.isArray(px)) {
    if (!decode) throw new Error(`compressed pixel data (${ds.transferSyntaxUID}) and no decoder`);
    px = await decode(ds);
    decoded = true;
  }
  if (!px) throw new Error('no pixel data');
  const data = px as Pixels;
  const image = { rows, cols, data };
  if (!decoded) {
    try {
      const v = mosaicToVolume(ds);
      return { vol: { slices: v.slices, rows: v.rows, cols: v.cols, data: v.data, image }, decoded };
    } catch {
      // not a mosaic: one slice
    }
  } else {
    const slices = mosaicInfo(ds)?.slices;
    const grid = slices ? Math.ceil(Math.sqrt(slices)) : 0;
    if (slices && slices > 1 && rows % grid === 0 && cols % grid === 0) return { vol: cutMosaic(image, slices, grid), decoded };
  }
  return { vol: { slices: 1, rows, cols, data, image }, decoded };
}

/** A decoded Siemens mosaic -> slices (the layout mosaicToVolume gives for uncompressed files). */
function cutMosaic(image: Volume['image'], slices: number, grid: number): Volume {
  const rows = image.rows / grid;
  const cols = image.cols / grid;
  const Ctor = image.data.constructor as new (n: number) => Pixels;
  const data = new Ctor(slices * rows * cols);
  for (let s = 0; s < slices; s++) {
    const tr = Math.floor(s / grid) * rows;
    const tc = (s % grid) * cols;
    for (let r = 0; r < rows; r++) {
      const from = (tr + r) * image.cols + tc;
      data.set(image.data.subarray(from, from + cols), (s * rows + r) * cols);
    }
  }
  return { slices, rows, cols, data, image };
}

function defaultRoi(v: Volume) {
  const e = Math.max(1, Math.floor(Math.min(v.rows, v.cols) / 10));
  const s = Math.floor(v.slices / 2);
  const r = Math.floor(v.rows / 2) - (e >> 1);
  const c = Math.floor(v.cols / 2) - (e >> 1);
  return { slice0: s, slice1: s + 1, row0: r, row1: r + e, col0: c, col1: c + e };
}

export function roiMean(v: Volume, box: RoiBox = defaultRoi(v)): number {
  let sum = 0;
  let n = 0;
  const s1 = Math.min(box.slice1, v.slices);
  const r1 = Math.min(box.row1, v.rows);
  const c1 = Math.min(box.col1, v.cols);
  for (let s = Math.max(0, box.slice0); s < s1; s++)
    for (let r = Math.max(0, box.row0); r < r1; r++) {
      const o = (s * v.rows + r) * v.cols;
      for (let c = Math.max(0, box.col0); c < c1; c++) {
        sum += v.data[o + c];
        n++;
      }
    }
  return n ? sum / n : NaN;
}

/** A display window from the 1st and 99.5th percentiles (a histogram over a sample). */
export function autoWindow(data: Pixels): [number, number] {
  const step = Math.max(1, Math.floor(data.length / 65536));
  const sample: number[] = [];
  for (let i = 0; i < data.length; i += step) sample.push(data[i]);
  sample.sort((a, b) => a - b);
  const lo = sample[Math.floor(sample.length * 0.01)] ?? 0;
  const top = sample[Math.min(sample.length - 1, Math.floor(sample.length * 0.995))] ?? 1;
  // Headroom above the bright end keeps tissue grey, so signal changes stay visible.
  const hi = top + (top - lo) * 0.25;
  return [lo, hi > lo ? hi : lo + 1];
}

export function renderFrame(vol: Volume, view: FrameView, window: [number, number]): { width: number; height: number; rgba: Uint8ClampedArray } {
  let src: Pixels;
  let width: number;
  let height: number;
  if (view.mode === 'slice' && vol.slices > 1) {
    const s = Math.min(vol.slices - 1, Math.max(0, view.slice ?? Math.floor(vol.slices / 2)));
    width = vol.cols;
    height = vol.rows;
    src = vol.data.subarray(s * width * height, (s + 1) * width * height);
  } else {
    width = vol.image.cols;
    height = vol.image.rows;
    src = vol.image.data;
  }
  const [lo, hi] = window;
  const n = width * height;
  const rgba = new Uint8ClampedArray(n * 4);
  const lut = LITTLE_ENDIAN && (src instanceof Uint16Array || src instanceof Int16Array) ? grayLut(lo, hi, src instanceof Int16Array) : undefined;
  if (lut) {
    // 16-bit pixels: one table read and one 32-bit write per pixel (half the time of the loop below)
    const out = new Uint32Array(rgba.buffer, 0, n);
    if (src instanceof Uint16Array) for (let i = 0; i < n; i++) out[i] = lut[src[i]];
    else for (let i = 0; i < n; i++) out[i] = lut[src[i] & 0xffff];
    return { width, height, rgba };
  }
  const scale = 255 / (hi - lo);
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    const g = (src[i] - lo) * scale;
    rgba[o] = rgba[o + 1] = rgba[o + 2] = g;
    rgba[o + 3] = 255;
  }
  return { width, height, rgba };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Opaque grey RGBA (as one little-endian word) of every 16-bit value for a window; the last one kept. */
let lutKey = '';
let lutWords: Uint32Array | undefined;
function grayLut(lo: number, hi: number, signed: boolean): Uint32Array {
  const key = `${lo},${hi},${signed}`;
  if (lutWords && key === lutKey) return lutWords;
  const scale = 255 / (hi - lo);
  const words = new Uint32Array(65536);
  // the grey level clamped and rounded exactly as a Uint8ClampedArray store does
  const clamp = new Uint8ClampedArray(1);
  for (let b = 0; b < 65536; b++) {
    clamp[0] = ((signed && b >= 0x8000 ? b - 0x10000 : b) - lo) * scale;
    const g = clamp[0];
    words[b] = (0xff000000 | (g << 16) | (g << 8) | g) >>> 0;
  }
  lutKey = key;
  lutWords = words;
  return words;
}
