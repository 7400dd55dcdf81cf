// nibabel.orientations ported: axis codes ('L','A','S'...), orientation arrays ([[outAxis, flip], ...]),
// and applying one to a voxel array. Arrays here are in NIfTI (file) order: the first index fastest.
// No Node or DOM imports.

import { identity4, matmul, polar3, type Mat4 } from './affine.js';
import type { NiftiData } from './header.js';

/** One row per input axis: [output axis (0 = x, 1 = y, 2 = z), 1 or -1 (flipped)]; NaN axis = dropped. */
export type Orientation = Array<[number, number]>;
/** Axis codes, e.g. ['L', 'A', 'S'] (each axis points *to* that side). */
export type AxCodes = Array<string | null>;

const LABELS: Array<[string, string]> = [['L', 'R'], ['P', 'A'], ['I', 'S']];

/**
 * nibabel's io_orientation: for each voxel axis, the world axis it changes most and its
 * direction, from the orthogonal matrix closest to the affine's normalised columns.
 */
export function ioOrientation(affine: Mat4): Orientation {
  const rzs = [0, 1, 2].map((i) => affine[i].slice(0, 3));
  const zooms = [0, 1, 2].map((j) => Math.hypot(rzs[0][j], rzs[1][j], rzs[2][j]) || 1);
  const rs = rzs.map((row) => row.map((v, j) => v / zooms[j]));
  const r = polar3(rs).map((row) => row.slice());
  const out: Orientation = [];
  for (let inAx = 0; inAx < 3; inAx++) {
    const col = [r[0][inAx], r[1][inAx], r[2][inAx]];
    if (col.every((v) => Math.abs(v) < 1e-8)) {
      out.push([NaN, NaN]);
      continue;
    }
    let outAx = 0;
    for (let k = 1; k < 3; k++) if (Math.abs(col[k]) > Math.abs(col[outAx])) outAx = k;
    out.push([outAx, col[outAx] < 0 ? -1 : 1]);
    for (let j = 0; j < 3; j++) r[outAx][j] = 0;
  }
  return out;
}

/** nibabel's ornt2axcodes. */
export function orntToAxcodes(ornt: Orientation): AxCodes {
  return ornt.map(([ax, dir]) => {
    if (Number.isNaN(ax)) return null;
    if (dir !== 1 && dir !== -1) throw new RangeError('direction should be -1 or 1');
    return LABELS[ax][dir === 1 ? 1 : 0];
  });
}

/** nibabel's aff2axcodes: e.g. ['L', 'A', 'S'] for a radiological axial EPI. */
export function aff2axcodes(affine: Mat4): AxCodes {
  return orntToAxcodes(ioOrientation(affine));
}

/** nibabel's axcodes2ornt (labels L/R, P/A, I/S; a string like 'RAS' works too). */
export function axcodes2ornt(axcodes: AxCodes | string): Orientation {
  const codes = typeof axcodes === 'string' ? axcodes.split('') : axcodes;
  return codes.map((code) => {
    if (code === null || code === undefined) return [NaN, NaN] as [number, number];
    const idx = LABELS.findIndex((l) => l.includes(code));
    if (idx < 0) throw new RangeError(`unknown axis code ${code} (use L R P A I S)`);
    return [idx, code === LABELS[idx][0] ? -1 : 1] as [number, number];
  });
}

/** nibabel's ornt_transform: the orientation that takes `start` to `end`. */
export function orntTransform(start: Orientation, end: Orientation): Orientation {
  if (start.length !== end.length) throw new RangeError('the orientations must have the same shape');
  const result: Orientation = start.map(() => [NaN, NaN]);
  end.forEach(([endOut, endFlip], endIn) => {
    const startIn = start.findIndex(([startOut]) => startOut === endOut);
    if (startIn < 0) throw new RangeError(`unable to find out axis ${endOut} in start orientation`);
    result[startIn] = [endIn, start[startIn][1] === endFlip ? 1 : -1];
  });
  return result;
}

/**
 * nibabel's apply_orientation on an array in NIfTI order: flips the axes marked -1, then moves
 * input axis a to output axis ornt[a][0]. Returns the new array and its shape.
 */
export function applyOrientation<T extends NiftiData | Float64Array>(data: T, shape: number[], ornt: Orientation): { data: T; shape: number[] } {
  const n = ornt.length;
  if (shape.length < n) throw new RangeError('data array has fewer dimensions than orientation');
  if (ornt.some(([ax]) => Number.isNaN(ax))) throw new RangeError('cannot drop coordinates when applying orientation to data');
  const outShape = shape.slice();
  for (let a = 0; a < n; a++) outShape[ornt[a][0]] = shape[a];
  const inStride: number[] = [];
  let s = 1;
  for (const d of shape) { inStride.push(s); s *= d; }
  const outStride: number[] = [];
  s = 1;
  for (const d of outShape) { outStride.push(s); s *= d; }
  const Ctor = data.constructor as new (n: number) => T;
  const out = new Ctor(data.length);
  const idx = new Array<number>(shape.length).fill(0);
  // Walk the input in order; compute each voxel's output index.
  const axisOut = shape.map((_, a) => (a < n ? ornt[a][0] : a));
  const flip = shape.map((_, a) => (a < n ? ornt[a][1] === -1 : false));
  for (let i = 0; i < data.length; i++) {
    let o = 0;
    for (let a = 0; a < shape.length; a++) {
      const v = flip[a] ? shape[a] - 1 - idx[a] : idx[a];
      o += v * outStride[axisOut[a]];
    }
    (out as unknown as number[])[o] = (data as unknown as number[])[i];
    for (let a = 0; a < shape.length; a++) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/**
 * nibabel's inv_ornt_aff: the affine from the reoriented array's voxels back to the original's,
 * so `affine x invOrntAff(ornt, shape)` is the reoriented image's affine.
 */
export function invOrntAff(ornt: Orientation, shape: number[]): Mat4 {
  const p = ornt.length;
  if (ornt.some(([a, f]) => Number.isNaN(a) || Number.isNaN(f))) throw new RangeError('we cannot invert orientation transform');
  const eye = identity4().slice(0, p + 1).map((r) => r.slice(0, p + 1));
  if (p !== 3) throw new RangeError('3 spatial axes expected');
  const undoReorder = [...ornt.map(([a]) => eye[a]), eye[p]];
  const undoFlip = identity4();
  for (let k = 0; k < p; k++) {
    const center = -(shape[k] - 1) / 2;
    undoFlip[k][k] = ornt[k][1];
    undoFlip[k][p] = ornt[k][1] * center - center;
  }
  return matmul(undoFlip, undoReorder);
}
