// Per-TR signal helpers for neurofeedback (issue 14): baseline, percent signal change and
// detrending of an ROI time course, in Node and in the page alike (no imports). rt-cloud leaves
// these to numpy in each project; the formulas here are the usual ones:
//   baseline  = mean of the baseline volumes (the first `baselineVolumes`, or a sliding window)
//   PSC       = 100 * (x - baseline) / baseline
//   detrended = x minus its least-squares polynomial fit (order 0: mean, 1: linear, 2: quadratic)
//               over the volumes so far (causal: a TR's value never depends on later TRs)

/** Percent signal change of `value` relative to `baseline` (NaN when the baseline is 0 or not finite). */
export function percentSignalChange(value: number, baseline: number): number {
  return baseline !== 0 && Number.isFinite(baseline) ? (100 * (value - baseline)) / baseline : Number.NaN;
}

/** Least-squares polynomial fit of `ys` against x = 0..n-1; returns the fitted values. */
export function polyFit(ys: ArrayLike<number>, order = 1): Float64Array {
  const n = ys.length;
  const k = Math.max(0, Math.min(order, n - 1)) + 1;
  // Normal equations on x scaled to [-1, 1] (well conditioned for the small orders used here).
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = n > 1 ? (2 * i) / (n - 1) - 1 : 0;
  const A = Array.from({ length: k }, () => new Float64Array(k + 1));
  for (let i = 0; i < n; i++) {
    const pw = new Float64Array(k);
    pw[0] = 1;
    for (let j = 1; j < k; j++) pw[j] = pw[j - 1] * xs[i];
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) A[r][c] += pw[r] * pw[c];
      A[r][k] += pw[r] * ys[i];
    }
  }
  // Gaussian elimination with partial pivoting.
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    const d = A[c][c] || 1e-300;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = A[r][c] / d;
      for (let j = c; j <= k; j++) A[r][j] -= f * A[c][j];
    }
  }
  const coef = A.map((row, i) => row[k] / (row[i] || 1e-300));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    let pw = 1;
    for (let j = 0; j < k; j++) {
      v += coef[j] * pw;
      pw *= xs[i];
    }
    out[i] = v;
  }
  return out;
}

/** `ys` minus its polynomial fit (order 1: linear detrending). `keepMean` adds the mean back. */
export function detrend(ys: ArrayLike<number>, order = 1, keepMean = false): Float64Array {
  const fit = polyFit(ys, order);
  let mean = 0;
  if (keepMean) for (let i = 0; i < ys.length; i++) mean += ys[i] / ys.length;
  const out = new Float64Array(ys.length);
  for (let i = 0; i < ys.length; i++) out[i] = ys[i] - fit[i] + mean;
  return out;
}

export interface TimeCourseOptions {
  /** Volumes that form the baseline: the first N of the run (default 10). */
  baselineVolumes?: number;
  /** Instead of a fixed baseline, the mean of the last N volumes before each one (a sliding window). */
  slidingWindow?: number;
  /** Detrending order over the run so far (0, 1, 2; default 1); null: no detrending. */
  detrendOrder?: number | null;
}

export interface TimeCoursePoint {
  /** Index of the volume in the run (the TR). */
  tr: number;
  raw: number;
  /** The baseline for this TR (NaN while the baseline volumes are still coming). */
  baseline: number;
  /** Percent signal change of the (detrended, mean kept) value against the baseline. */
  psc: number;
  /** The value with the run's trend so far removed, mean kept (equal to raw when not detrending). */
  detrended: number;
}

/**
 * An ROI time course built one TR at a time, as a neurofeedback loop gets them: push each
 * volume's ROI mean, get its baseline, detrended value and percent signal change. Causal: each
 * point uses only the volumes up to it.
 */
export class RoiTimeCourse {
  readonly values: number[] = [];
  readonly points: TimeCoursePoint[] = [];
  constructor(private readonly opts: TimeCourseOptions = {}) {}

  push(value: number): TimeCoursePoint {
    const tr = this.values.length;
    this.values.push(value);
    const order = this.opts.detrendOrder === undefined ? 1 : this.opts.detrendOrder;
    const detr = order === null || this.values.length < 3 ? this.values.slice() : Array.from(detrend(this.values, order, true));
    const detrended = detr[tr];
    let baseline: number;
    const w = this.opts.slidingWindow;
    if (w && w > 0) {
      const from = Math.max(0, tr - w);
      const win = detr.slice(from, tr);
      baseline = win.length ? win.reduce((a, b) => a + b, 0) / win.length : Number.NaN;
    } else {
      const nb = this.opts.baselineVolumes ?? 10;
      baseline = tr + 1 >= nb && nb > 0 ? detr.slice(0, nb).reduce((a, b) => a + b, 0) / nb : Number.NaN;
    }
    const p: TimeCoursePoint = { tr, raw: value, baseline, psc: percentSignalChange(detrended, baseline), detrended };
    this.points.push(p);
    return p;
  }
}
