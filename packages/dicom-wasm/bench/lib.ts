// Timing and reporting helpers for the dicom-wasm benchmark (and any case module added beside it).
import { appendFileSync } from 'node:fs';

export interface Stats { p50: number; p99: number; mean: number; n: number }

/** Times fn per call (ms) after a warm-up; returns median, p99 and mean. */
export function time(fn: () => unknown, opts: { warmup?: number; n?: number; budgetMs?: number } = {}): Stats {
  const warmup = opts.warmup ?? 200;
  const budget = opts.budgetMs ?? 3000;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const tEnd = performance.now() + budget;
  const n = opts.n ?? 3000;
  while (samples.length < n && (samples.length < 50 || performance.now() < tEnd)) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return { p50: q(0.5), p99: q(0.99), mean: samples.reduce((s, x) => s + x, 0) / samples.length, n: samples.length };
}

export function report(caseName: string, metric: string, value: number, unit: string, note?: string): void {
  const line = { package: 'dicom-wasm', case: caseName, metric, value, unit, ...(note ? { note } : {}) };
  const file = process.env.RTFMRI_BENCH_JSON;
  if (file) appendFileSync(file, JSON.stringify(line) + '\n');
}

export function us(ms: number): string {
  return `${(ms * 1000).toFixed(1)} us`;
}

/** Prints one row per library for a case, reports p50/p99 and the ratio of each peer to ours. */
export function compare(caseName: string, rows: { lib: string; stats: Stats }[]): void {
  const ours = rows[0].stats;
  console.log(`\n${caseName}`);
  for (const { lib, stats } of rows) {
    const ratio = stats.p50 / ours.p50;
    console.log(`  ${lib.padEnd(22)} p50 ${us(stats.p50).padStart(10)}  p99 ${us(stats.p99).padStart(10)}  (${stats.n} runs)${lib === rows[0].lib ? '' : `  ours is ${ratio.toFixed(1)}x faster`}`);
  }
  const notes = rows.slice(1).map(({ lib, stats }) => `${(stats.p50 / ours.p50).toFixed(1)}x faster than ${lib}`).join(', ');
  report(caseName, 'p50', ours.p50 * 1000, 'us', notes);
  report(caseName, 'p99', ours.p99 * 1000, 'us');
  for (const { lib, stats } of rows.slice(1)) {
    report(`${caseName} [${lib}]`, 'p50', stats.p50 * 1000, 'us');
    report(`${caseName} [${lib}]`, 'p99', stats.p99 * 1000, 'us');
  }
}
