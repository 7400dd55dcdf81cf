// Decode time of the largest frame a peer may send (1 MiB + 64 KiB), for the value shapes that
// cost the most per byte. Issue 10: a 256 KiB BigInt took 34 s to decode (quadratic); every
// value type must decode in linear time. Prints medians of 15 runs and the load average.
import fs from 'node:fs';
import os from 'node:os';
import { decodeInline, encodeInline } from '../src/index.js';
import { DEFAULTS } from '../src/options.js';

const budget = DEFAULTS.maxFrameSize - 64;
const big = BigInt('0x' + Buffer.from(new Uint8Array(budget - 16).map((_, i) => (i * 31 + 1) & 0xff)).toString('hex'));
const cases: Array<[string, unknown]> = [
  ['BigInt filling a frame', big],
  ['array of small ints filling a frame', Array.from({ length: budget / 2 - 16 }, (_, i) => i & 63)],
  ['array of 1-char strings', Array.from({ length: Math.floor(budget / 3) - 16 }, () => 'a')],
  ['object with many keys', Object.fromEntries(Array.from({ length: Math.floor(budget / 12) }, (_, i) => [`k${i}`, i & 63]))],
  ['nesting at the 64-level limit, repeated', Array.from({ length: Math.floor(budget / 140) }, () => JSON.parse('['.repeat(63) + ']'.repeat(63)))],
];
for (const [name, value] of cases) {
  const bytes = encodeInline(value);
  if (bytes.length > DEFAULTS.maxFrameSize) throw new Error(`${name}: ${bytes.length} bytes is more than a frame`);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    decodeInline(bytes);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const p50 = times[7]!;
  console.log(`decode ${name} (${(bytes.length / 1024).toFixed(0)} KiB): p50 ${p50.toFixed(2)} ms, max ${times[14]!.toFixed(2)} ms`);
  if (process.env.RTFMRI_BENCH_JSON) {
    fs.appendFileSync(process.env.RTFMRI_BENCH_JSON, JSON.stringify({ package: 'transport', case: `decode largest frame: ${name}`, metric: 'p50', value: Number(p50.toFixed(4)), unit: 'ms' }) + '\n');
  }
}
console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
