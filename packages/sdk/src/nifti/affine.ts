// 4x4 affines and the NIfTI-1 quaternion (qform) code, ported from nifti1_io.c (the copy in
// dcm2niix's nifti1_io_core.cpp) so a qform written here reads back as dcm2niix's does.
// Plain arrays of rows: affine[row][col], as numpy prints them. No Node or DOM imports.

/** A 4x4 matrix as rows: m[row][col]. */
export type Mat4 = number[][];
/** A 3x3 matrix as rows. */
export type Mat3 = number[][];

export function identity4(): Mat4 {
  return [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

export function matmul(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const m = b[0].length;
  const k = b.length;
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row = new Array<number>(m).fill(0);
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i][t] * b[t][j];
      row[j] = s;
    }
    out.push(row);
  }
  return out;
}

/** affine x (i, j, k, 1): the world coordinate of voxel (i, j, k). */
export function applyAffine(affine: Mat4, ijk: ArrayLike<number>): [number, number, number] {
  const [i, j, k] = [ijk[0], ijk[1], ijk[2]];
  return [
    affine[0][0] * i + affine[0][1] * j + affine[0][2] * k + affine[0][3],
    affine[1][0] * i + affine[1][1] * j + affine[1][2] * k + affine[1][3],
    affine[2][0] * i + affine[2][1] * j + affine[2][2] * k + affine[2][3],
  ];
}

export function det3(m: Mat3): number {
  return (
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
  );
}

export function inv3(m: Mat3): Mat3 {
  const d = det3(m);
  if (d === 0) throw new RangeError('singular 3x3 matrix');
  const c = (r0: number, c0: number, r1: number, c1: number) => m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
  return [
    [c(1, 1, 2, 2) / d, -c(0, 1, 2, 2) / d, c(0, 1, 1, 2) / d],
    [-c(1, 0, 2, 2) / d, c(0, 0, 2, 2) / d, -c(0, 0, 1, 2) / d],
    [c(1, 0, 2, 1) / d, -c(0, 0, 2, 1) / d, c(0, 0, 1, 1) / d],
  ];
}

/** Inverse of an affine (last row 0 0 0 1). */
export function invAffine(a: Mat4): Mat4 {
  const r = inv3([a[0].slice(0, 3), a[1].slice(0, 3), a[2].slice(0, 3)]);
  const t = [a[0][3], a[1][3], a[2][3]];
  const out = identity4();
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) out[i][j] = r[i][j];
    out[i][3] = -(r[i][0] * t[0] + r[i][1] * t[1] + r[i][2] * t[2]);
  }
  return out;
}

export function transpose(m: number[][]): number[][] {
  return m[0].map((_, j) => m.map((row) => row[j]));
}

export function cross(a: ArrayLike<number>, b: ArrayLike<number>): [number, number, number] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** Largest absolute difference between two matrices of the same shape. */
export function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  return m;
}

/** Rounds to float32, as a value stored in a NIfTI header reads back. */
export const f32 = Math.fround;

const rownorm = (m: Mat3) => Math.max(...m.map((r) => Math.abs(r[0]) + Math.abs(r[1]) + Math.abs(r[2])));
const colnorm = (m: Mat3) => Math.max(...[0, 1, 2].map((j) => Math.abs(m[0][j]) + Math.abs(m[1][j]) + Math.abs(m[2][j])));

/** The orthogonal matrix closest to `a` (nifti_mat33_polar: Higham's iteration). */
export function polar3(a: Mat3): Mat3 {
  let x = a.map((r) => r.slice());
  let gam = det3(x);
  while (gam === 0) {
    gam = 0.00001 * (0.001 + rownorm(x));
    x[0][0] += gam;
    x[1][1] += gam;
    x[2][2] += gam;
    gam = det3(x);
  }
  let dif = 1;
  let z = x;
  for (let k = 1; ; k++) {
    const y = inv3(x);
    let g = 1;
    let gi = 1;
    if (dif > 0.3) {
      const alp = Math.sqrt(rownorm(x) * colnorm(x));
      const bet = Math.sqrt(rownorm(y) * colnorm(y));
      g = Math.sqrt(bet / alp);
      gi = 1 / g;
    }
    z = [0, 1, 2].map((i) => [0, 1, 2].map((j) => 0.5 * (g * x[i][j] + gi * y[j][i])));
    dif = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) dif += Math.abs(z[i][j] - x[i][j]);
    if (k > 100 || dif < 3e-6) break;
    x = z;
  }
  return z;
}

export interface Quatern {
  quatern_b: number;
  quatern_c: number;
  quatern_d: number;
  qoffset_x: number;
  qoffset_y: number;
  qoffset_z: number;
  /** Column lengths (voxel sizes). */
  dx: number;
  dy: number;
  dz: number;
  /** pixdim[0]: 1 or -1 (a left-handed affine flips the third column). */
  qfac: number;
}

/** nifti_mat44_to_quatern: the qform parameters of an affine (shears dropped by the polar decomposition). */
export function mat44ToQuatern(r: Mat4): Quatern {
  let [r11, r12, r13] = r[0];
  let [r21, r22, r23] = r[1];
  let [r31, r32, r33] = r[2];
  let xd = Math.sqrt(r11 * r11 + r21 * r21 + r31 * r31);
  let yd = Math.sqrt(r12 * r12 + r22 * r22 + r32 * r32);
  let zd = Math.sqrt(r13 * r13 + r23 * r23 + r33 * r33);
  if (xd === 0) { r11 = 1; r21 = r31 = 0; xd = 1; }
  if (yd === 0) { r22 = 1; r12 = r32 = 0; yd = 1; }
  if (zd === 0) { r33 = 1; r13 = r23 = 0; zd = 1; }
  const dx = xd;
  const dy = yd;
  const dz = zd;
  const p = polar3([
    [f32(r11 / xd), f32(r12 / yd), f32(r13 / zd)],
    [f32(r21 / xd), f32(r22 / yd), f32(r23 / zd)],
    [f32(r31 / xd), f32(r32 / yd), f32(r33 / zd)],
  ]);
  [r11, r12, r13] = p[0];
  [r21, r22, r23] = p[1];
  [r31, r32, r33] = p[2];
  const d = r11 * r22 * r33 - r11 * r32 * r23 - r21 * r12 * r33 + r21 * r32 * r13 + r31 * r12 * r23 - r31 * r22 * r13;
  let qfac = 1;
  if (!(d > 0)) {
    qfac = -1;
    r13 = -r13;
    r23 = -r23;
    r33 = -r33;
  }
  let a = r11 + r22 + r33 + 1;
  let b: number;
  let c: number;
  let dd: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    dd = (0.25 * (r21 - r12)) / a;
  } else {
    const x2 = 1 + r11 - (r22 + r33);
    const y2 = 1 + r22 - (r11 + r33);
    const z2 = 1 + r33 - (r11 + r22);
    if (x2 > 1) {
      b = 0.5 * Math.sqrt(x2);
      c = (0.25 * (r12 + r21)) / b;
      dd = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (y2 > 1) {
      c = 0.5 * Math.sqrt(y2);
      b = (0.25 * (r12 + r21)) / c;
      dd = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      dd = 0.5 * Math.sqrt(z2);
      b = (0.25 * (r13 + r31)) / dd;
      c = (0.25 * (r23 + r32)) / dd;
      a = (0.25 * (r21 - r12)) / dd;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      dd = -dd;
    }
  }
  return { quatern_b: b, quatern_c: c, quatern_d: dd, qoffset_x: r[0][3], qoffset_y: r[1][3], qoffset_z: r[2][3], dx, dy, dz, qfac };
}

/**
 * nifti_quatern_to_mat44 (and nibabel's get_qform): the affine a qform describes. `pixdim` are
 * pixdim[1..3]; qfac is pixdim[0] (0 is read as 1).
 */
export function quaternToMat44(
  qb: number, qc: number, qd: number, qx: number, qy: number, qz: number, dx: number, dy: number, dz: number, qfac: number,
): Mat4 {
  let b = qb;
  let c = qc;
  let d = qd;
  let a = 1 - (b * b + c * c + d * d);
  if (a < 1e-7) {
    // a is ~0: normalise (b, c, d) (nifti1_io.c)
    a = 1 / Math.sqrt(b * b + c * c + d * d);
    b *= a;
    c *= a;
    d *= a;
    a = 0;
  } else {
    a = Math.sqrt(a);
  }
  const xd = dx > 0 ? dx : 1;
  const yd = dy > 0 ? dy : 1;
  let zd = dz > 0 ? dz : 1;
  if (qfac < 0) zd = -zd;
  return [
    [(a * a + b * b - c * c - d * d) * xd, 2 * (b * c - a * d) * yd, 2 * (b * d + a * c) * zd, qx],
    [2 * (b * c + a * d) * xd, (a * a + c * c - b * b - d * d) * yd, 2 * (c * d - a * b) * zd, qy],
    [2 * (b * d - a * c) * xd, 2 * (c * d + a * b) * yd, (a * a + d * d - c * c - b * b) * zd, qz],
    [0, 0, 0, 1],
  ];
}

/** Column lengths of the 3x3 part: the voxel sizes an affine implies. */
export function voxelSizes(affine: Mat4): [number, number, number] {
  return [0, 1, 2].map((j) => Math.hypot(affine[0][j], affine[1][j], affine[2][j])) as [number, number, number];
}
