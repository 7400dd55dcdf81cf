// Transport benchmark: per link on loopback, side by side with a bare `ws` baseline, two processes
// per measurement (client and server). Prints a table; appends JSON figures to $RTFMRI_BENCH_JSON.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const pkg = join(dir, '..');
const peer = join(dir, 'peer.mjs');
const MiB = 1024 * 1024;

type Fig = { package: string; case: string; metric: string; value: number; unit: string; note?: string };

// A private build under node_modules/ (so `ws` etc. still resolve), passed to the peers by env.
const benchDist = join(pkg, 'node_modules', '.bench-dist');
const tsc = spawnSync(process.execPath, [join(pkg, '../../node_modules/typescript/bin/tsc'), '-p', join(pkg, 'tsconfig.build.json'), '--outDir', benchDist, '--declaration', 'false', '--sourceMap', 'false', '--declarationMap', 'false'], { stdio: 'inherit' });
if (tsc.status !== 0) throw new Error('tsc failed');
process.env.RTFMRI_TRANSPORT_DIST = benchDist;

function run(cmd: string, args: string[], o: { quiet?: boolean } = {}): Promise<Fig[]> {
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
          if (!o.quiet) console.log(`  ${f.case.padEnd(48)} ${f.metric.padEnd(18)} ${f.value.toFixed(f.value < 10 ? 3 : 1).padStart(10)} ${f.unit}${f.note ? `  (${f.note})` : ''}`);
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
// This machine is shared and a process's history changes what it measures (after 1 GiB of streams
// the hot per-call functions run slower), so every ws case runs in its own fresh pair of processes
// (client + server), bare and RPC alternating, the order swapped every round. Per round the RPC/bare
// ratio is taken between the two adjacent runs; the bench reports the median ratio over the rounds
// with its min..max, and the median over rounds of each run's p50/p99 (throughput likewise).
const rounds = Number(process.env.RTFMRI_BENCH_ROUNDS ?? 7);
const load = () => (loadavg()[0] ?? 0).toFixed(2);
const loadStart = load();
// Fresh processes need warming: both the bare and the RPC 457 KB round trip start near 0.25-0.4 ms
// and settle at ~0.13-0.15 ms only after ~1500 calls (JIT and GC heap sizing on both ends), so each
// run warms 2500 calls (ping: 5000) before it measures; both sides get the same warm-up.
const wsCases: { id: string; opts: Record<string, unknown> }[] = [
  { id: 'ping', opts: { cases: ['ping'], pings: 5000, warmPings: 5000 } },
  { id: 'k457', opts: { cases: ['k457'], small: 1000, warmSmall: 2500 } },
  { id: 'big', opts: { cases: ['big'], big: 64 * MiB, bigIters: 5 } },
  { id: 'stream', opts: { cases: ['stream'], streamTotal: 1024 * MiB } },
];
const quiet = { quiet: true };
const perRound = new Map<string, { bare: Fig; rpc: Fig }[]>(); // key: case after the link name + '|' + metric
for (const c of wsCases) {
  console.log(`ws case ${c.id}: ${rounds} rounds, bare ws and RPC over ws alternating, fresh processes each run`);
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? (['bare', 'ws'] as const) : (['ws', 'bare'] as const);
    const got: Record<string, Fig[]> = {};
    for (const which of order)
      got[which] = await withServer((u) => run(process.execPath, ['--expose-gc', peer, 'client', JSON.stringify({ which, bare: u.bare, rpc: u.rpc, opts: c.opts })], quiet));
    for (const r of got.ws!) {
      const k = r.case.replace(/^rpc ws: /, '') + '|' + r.metric;
      const b = got.bare!.find((f) => f.case.replace(/^bare ws: /, '') + '|' + f.metric === k);
      if (!b) continue;
      let list = perRound.get(k);
      if (!list) perRound.set(k, (list = []));
      list.push({ bare: b, rpc: r });
    }
    const line = [...perRound].filter(([k]) => k.endsWith('|p50') || k.endsWith('|throughput')).map(([k, l]) => {
      const x = l[l.length - 1]!;
      return `${k.split('|')[0]} ${fmt(x.bare.value)} / ${fmt(x.rpc.value)}`;
    });
    console.log(`  round ${i + 1} (${order.join(' then ')}; load ${load()}): bare / rpc  ${line.filter((l) => wsCaseOf(l) === c.id).join('; ')}`);
  }
}
function fmt(v: number) {
  return v.toFixed(v < 10 ? 3 : 1);
}
function wsCaseOf(label: string) {
  if (label.startsWith('ping')) return 'ping';
  if (label.startsWith('457 KB')) return 'k457';
  if (label.includes('streamed')) return 'stream';
  return 'big';
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const compare: Fig[] = [];
const wsFigs: Fig[] = [];
for (const [k, list] of perRound) {
  const [label, metric] = k.split('|') as [string, string];
  const rss = metric.includes('RSS');
  // RSS growth: the highest seen (conservative); times and throughput: the median over rounds
  const agg = (xs: number[]) => (rss ? Math.max(...xs) : median(xs));
  const unit = list[0]!.rpc.unit;
  const note = `${rss ? 'max' : 'median'} of ${list.length} fresh-process runs`;
  wsFigs.push({ package: 'transport', case: `bare ws: ${label}`, metric, value: agg(list.map((x) => x.bare.value)), unit, note: [list[0]!.bare.note, note].filter(Boolean).join('; ') });
  wsFigs.push({ package: 'transport', case: `rpc ws: ${label}`, metric, value: agg(list.map((x) => x.rpc.value)), unit, note });
  if (metric === 'p50' || metric === 'throughput') {
    // ratio > 1: RPC slower (time ratio rpc/bare; throughput ratio bare/rpc)
    const ratios = list.map((x) => (metric === 'throughput' ? x.bare.value / x.rpc.value : x.rpc.value / x.bare.value));
    const m = median(ratios);
    compare.push({
      package: 'transport',
      case: `rpc ws vs bare ws: ${label}`,
      metric: 'overhead',
      value: (m - 1) * 100,
      unit: '%',
      note: `median of ${ratios.length} per-round ratios, range ${((Math.min(...ratios) - 1) * 100).toFixed(1)}..${((Math.max(...ratios) - 1) * 100).toFixed(1)} %; ${metric} rpc ${fmt(median(list.map((x) => x.rpc.value)))} vs bare ${fmt(median(list.map((x) => x.bare.value)))} ${unit}`,
    });
  }
}
all.push(...wsFigs);
const loadWs = load();
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

console.log(`\nws figures (fresh processes per run; 1-min load average ${loadStart} at start, ${loadWs} after the ws cases, ${load()} at end):`);
for (const f of wsFigs)
  console.log(`  ${f.case.padEnd(48)} ${f.metric.padEnd(18)} ${fmt(f.value).padStart(10)} ${f.unit}`);
console.log('RPC over ws vs bare ws (positive: RPC slower):');
for (const f of compare) console.log(`  ${f.case.padEnd(60)} ${f.value.toFixed(1).padStart(7)} %  (${f.note})`);
all.push(...compare);
all.push({ package: 'transport', case: 'load average (1 min)', metric: 'start / after ws / end', value: Number(loadStart), unit: '', note: `${loadStart} / ${loadWs} / ${load()}` });

if (process.env.RTFMRI_BENCH_JSON) appendFileSync(process.env.RTFMRI_BENCH_JSON, all.map((f) => JSON.stringify(f)).join('\n') + '\n');
process.exit(0);
