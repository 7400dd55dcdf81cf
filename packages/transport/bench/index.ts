// Transport benchmark: per link on loopback, side by side with a bare `ws` baseline, two processes
// per measurement (client and server). Prints a table; appends JSON figures to $RTFMRI_BENCH_JSON.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const pkg = join(dir, '..');
const peer = join(dir, 'peer.mjs');
const MiB = 1024 * 1024;

type Fig = { package: string; case: string; metric: string; value: number; unit: string; note?: string };

spawnSync(process.execPath, [join(pkg, '../../node_modules/typescript/bin/tsc'), '-p', join(pkg, 'tsconfig.build.json')], { stdio: 'inherit' });

function run(cmd: string, args: string[]): Promise<Fig[]> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: pkg, stdio: ['ignore', 'pipe', 'inherit'] });
    const figs: Fig[] = [];
    let buf = '';
    c.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('RESULT ')) {
          const f = JSON.parse(line.slice(7)) as Fig;
          figs.push(f);
          console.log(`  ${f.case.padEnd(48)} ${f.metric.padEnd(18)} ${f.value.toFixed(f.value < 10 ? 3 : 1).padStart(10)} ${f.unit}${f.note ? `  (${f.note})` : ''}`);
        } else if (line.trim()) console.log(line);
      }
    });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(figs) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

const all: Fig[] = [];
const opts = { big: 64 * MiB, streamTotal: 1024 * MiB };

// a fresh server process per client run, so each starts from a clean RSS
async function withServer<T>(f: (urls: { rpc: string; bare: string }) => Promise<T>): Promise<T> {
  const server = spawn(process.execPath, ['--expose-gc', peer, 'serve'], { cwd: pkg, stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise<{ rpc: string; bare: string }>((resolve) => {
    let buf = '';
    server.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
  });
  try {
    return await f(urls);
  } finally {
    server.kill('SIGKILL');
  }
}
// This machine is shared: bare and RPC runs alternate, and each figure is the best of the rounds
// (lowest time, highest throughput; RSS growth: the highest seen, to stay conservative).
const rounds = Number(process.env.RTFMRI_BENCH_ROUNDS ?? 2);
const wsRuns: Fig[][] = [];
for (let i = 0; i < rounds; i++) {
  console.log(`bare ws baseline (ws 8 + bufferutil, two processes), round ${i + 1}/${rounds}:`);
  wsRuns.push(await withServer((u) => run(process.execPath, ['--expose-gc', peer, 'client', JSON.stringify({ which: 'bare', bare: u.bare, opts })])));
  console.log(`RPC over ws (two processes), round ${i + 1}/${rounds}:`);
  wsRuns.push(await withServer((u) => run(process.execPath, ['--expose-gc', peer, 'client', JSON.stringify({ which: 'ws', rpc: u.rpc, opts })])));
}
const best = new Map<string, Fig>();
for (const f of wsRuns.flat()) {
  const k = `${f.case}|${f.metric}`;
  const prev = best.get(k);
  const higher = f.metric === 'throughput' || f.metric.includes('RSS');
  if (!prev || (higher ? f.value > prev.value : f.value < prev.value)) best.set(k, { ...f, note: [f.note, `best of ${rounds}`].filter(Boolean).join('; ') });
}
all.push(...best.values());
console.log('RPC over the local link (one process, so client and server RSS are the same figure; streams hand over the same buffers: zero-copy):');
all.push(...(await run(process.execPath, ['--expose-gc', peer, 'client', JSON.stringify({ which: 'local', opts })])));

console.log('Dead peer (server process SIGKILLed):');
all.push(...(await run(process.execPath, ['--expose-gc', peer, 'client', JSON.stringify({ which: 'kill', kinds: ['ws'] })])));

const unshare = spawnSync('unshare', ['-n', 'true']).status === 0;
if (unshare) {
  all.push(...(await run('unshare', ['-n', 'sh', '-c', `ip link set lo up; exec node ${peer} client '${JSON.stringify({ which: 'kill', kinds: ['webrtc'] })}'`])));
  console.log('RPC over WebRTC (node-datachannel, two processes in a private network namespace):');
  const rtcOpts = { big: 64 * MiB, streamTotal: 256 * MiB, pings: 1000, small: 100, bigIters: 3 };
  all.push(...(await run('unshare', ['-n', 'sh', '-c', `ip link set lo up; exec node --expose-gc ${peer} netns-webrtc '${JSON.stringify(rtcOpts)}'`])));
} else {
  console.log('SKIP WebRTC: unshare -n not permitted');
}

console.log('\nws figures used (best of the rounds):');
for (const f of best.values()) console.log(`  ${f.case.padEnd(48)} ${f.metric.padEnd(18)} ${f.value.toFixed(f.value < 10 ? 3 : 1).padStart(10)} ${f.unit}`);

// RPC overhead against the bare baseline
const get = (c: string, m: string) => all.find((f) => f.case === c && f.metric === m)?.value;
const compare: Fig[] = [];
for (const [k, m, higherBetter] of [
  ['ping RTT', 'p50', false],
  ['457 KB download (call+reply)', 'p50', false],
  ['457 KB upload (call+reply)', 'p50', false],
  ['64 MiB download', 'p50', false],
  ['64 MiB upload', 'p50', false],
  ['1024 MiB streamed download', 'throughput', true],
  ['1024 MiB streamed upload', 'throughput', true],
] as const) {
  const b = get(`bare ws: ${k}`, m);
  const r = get(`rpc ws: ${k}`, m);
  if (b && r) {
    const ratio = higherBetter ? b / r : r / b;
    compare.push({ package: 'transport', case: `rpc ws vs bare ws: ${k}`, metric: 'overhead', value: (ratio - 1) * 100, unit: '%', note: `rpc ${r.toFixed(3)} vs bare ${b.toFixed(3)}` });
  }
}
console.log('RPC over ws vs bare ws (positive: RPC slower):');
for (const f of compare) console.log(`  ${f.case.padEnd(60)} ${f.value.toFixed(1).padStart(7)} %  (${f.note})`);
all.push(...compare);

if (process.env.RTFMRI_BENCH_JSON) appendFileSync(process.env.RTFMRI_BENCH_JSON, all.map((f) => JSON.stringify(f)).join('\n') + '\n');
process.exit(0);
