// The demo end to end (relay and runtime as child processes of the built CLI), short.
import { describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo.js';


describe('rtfmri demo', () => {
  it('replays a synthetic run through relay + runtime: every volume in order, ROI follows the design, anonymized', async () => {
    const lines: string[] = [];
    const s = await runDemo({ tr: 0.15, volumes: 14, data: 'synthetic', out: (l) => lines.push(l) });
    expect(s.volumes).toBe(14);
    expect(s.latenciesMs).toHaveLength(14);
    expect(s.p50).toBeGreaterThan(0);
    // volumes 10.. are in the first "on" block of the synthetic design
    expect(s.designCorrelation).toBeGreaterThan(0.8);
    const rows = lines.filter((l) => /^\s+\d+\s+\d+\s+\d+\.\d/.test(l));
    expect(rows.map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual([...Array(14).keys()]);
    expect(lines.join('\n')).toMatch(/p50 [\d.]+ ms .* p99 [\d.]+ ms/);
    expect(lines.join('\n')).toContain('anonymized: yes');
  }, 60_000);
});
