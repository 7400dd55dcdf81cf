// Baseline, percent signal change and detrending (issue 14): in Node and the page alike.
import { describe, expect, it } from 'vitest';
import { detrend, percentSignalChange, polyFit, RoiTimeCourse } from '../src/signal.js';
import * as browser from '../src/browser/index.js';
import * as node from '../src/index.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-9) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(eps);
};

describe('signal helpers', () => {
  it('polyFit / detrend remove polynomial trends exactly', () => {
    const lin = Array.from({ length: 30 }, (_, i) => 3 + 2 * i);
    close(polyFit(lin, 1), lin);
    close(detrend(lin, 1), new Array(30).fill(0));
    close(detrend(lin, 1, true), new Array(30).fill(3 + 2 * 14.5));
    const quad = Array.from({ length: 25 }, (_, i) => 1 - 0.5 * i + 0.03 * i * i);
    close(detrend(quad, 2), new Array(25).fill(0), 1e-8);
    // A sine on a drift: linear detrending leaves the sine's own (small) linear part only.
    const sig = Array.from({ length: 40 }, (_, i) => 1000 + 0.8 * i + Math.sin(i));
    const d = detrend(sig, 1);
    expect(Math.max(...d.map(Math.abs))).toBeLessThan(1.3);
    close(detrend([5], 1), [0]);
    close(detrend([5, 7], 1), [0, 0]);
    // Order 0 is mean removal (the mean is 4).
    close(detrend([1, 3, 8], 0), [-3, -1, 4]);
  });

  it('percentSignalChange', () => {
    expect(percentSignalChange(101, 100)).toBeCloseTo(1, 12);
    expect(percentSignalChange(95, 100)).toBeCloseTo(-5, 12);
    expect(percentSignalChange(1, 0)).toBeNaN();
  });

  it('RoiTimeCourse: a fixed baseline, a step after it, causal points', () => {
    const tc = new RoiTimeCourse({ baselineVolumes: 5, detrendOrder: null });
    const pts = [100, 100, 100, 100, 100, 102, 102, 99].map((v) => tc.push(v));
    expect(pts.slice(0, 4).every((p) => Number.isNaN(p.baseline))).toBe(true);
    expect(pts[4].baseline).toBe(100);
    expect(pts[5].psc).toBeCloseTo(2, 12);
    expect(pts[7].psc).toBeCloseTo(-1, 12);
    expect(pts.map((p) => p.tr)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('RoiTimeCourse: detrending takes a drift out, a sliding baseline follows the signal', () => {
    const drift = new RoiTimeCourse({ baselineVolumes: 5, detrendOrder: 1 });
    let last;
    for (let i = 0; i < 20; i++) last = drift.push(1000 + 5 * i);
    // A pure drift: detrended values are the mean, PSC 0.
    expect(last!.detrended).toBeCloseTo(1000 + 5 * 9.5, 6);
    expect(last!.psc).toBeCloseTo(0, 6);
    const slide = new RoiTimeCourse({ slidingWindow: 3, detrendOrder: null });
    const s = [10, 20, 30, 40].map((v) => slide.push(v));
    expect(s[0].baseline).toBeNaN();
    expect(s[3].baseline).toBe(20);
    expect(s[3].psc).toBeCloseTo(100, 12);
  });

  it('both entries export them', () => {
    for (const m of [browser, node] as Array<Record<string, unknown>>) {
      for (const name of ['detrend', 'polyFit', 'percentSignalChange', 'RoiTimeCourse']) expect(typeof m[name]).toBe('function');
    }
  });
});
