// Benchmark, measured in the browser: the replayer closes a volume's file -> the page has drawn
// it (putImageData done), p50/p99, over a direct WebRTC data channel and over the relay's
// WebSocket, in the same run. Runs Chromium in a network namespace (root, unshare, iproute2).
// Env: BENCH_VOLUMES (default 40), BENCH_TR seconds (default 0.25).
import { appendFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { browserTestsUnavailable, spawnInNetns } from '../test/harness/netns.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const why = browserTestsUnavailable();
if (why) {
  console.log(`example-browser bench skipped: ${why}`);
  process.exit(0);
}
if (!existsSync(join(root, 'dist', 'app.js'))) spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
const n = Number(process.env.BENCH_VOLUMES ?? 40);
const tr = Number(process.env.BENCH_TR ?? 0.25);
const child = spawnInNetns([process.execPath, join(root, 'test', 'harness', 'run.mjs'), JSON.stringify({ scenarios: ['bench', 'floor'], n, tr })], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d) => (out += d));
child.on('exit', () => {
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const r = lines.find((l) => l.scenario === 'bench');
  const floor = lines.find((l) => l.scenario === 'floor');
  if (!r || r.failed) {
    console.error(`bench failed: ${r?.failed ?? out.slice(-2000)}`);
    process.exit(1);
  }
  const mosaic = '457 KB synthetic mosaic';
  console.log(`file closed -> volume drawn in Chromium (${mosaic}, TR ${tr} s, ${n} volumes each, first one skipped); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('link        n    p50 ms   p99 ms   max ms   (closed -> in the worker: p50 / p99 ms)');
  const figures = [];
  for (const key of ['webrtc', 'websocket']) {
    const x = r[key];
    const label = key === 'webrtc' ? 'WebRTC' : 'WebSocket via relay';
    console.log(`${label.padEnd(11)} ${String(x.n).padEnd(4)} ${x.p50.toFixed(2).padStart(7)}  ${x.p99.toFixed(2).padStart(7)}  ${x.max.toFixed(2).padStart(7)}   (${x.receivedP50.toFixed(2)} / ${x.receivedP99.toFixed(2)})`);
    console.log(`    after the bytes are in the worker, p50 ms: worker frame work ${x.workerP50.toFixed(2)}, worker -> page ${x.hopP50.toFixed(2)}, draw ${x.drawP50.toFixed(2)} (${x.bytes} bytes a volume); then to the next animation frame, whose paint shows it: p50 ${x.frameP50.toFixed(2)}, p99 ${x.frameP99.toFixed(2)}`);
    const c = `file closed -> drawn in Chromium, ${key === 'webrtc' ? 'direct WebRTC data channel' : 'WebSocket through the relay'}`;
    figures.push({ package: 'example-browser', case: c, metric: 'p50', value: x.p50, unit: 'ms', note: key === 'webrtc' ? 'target < 15 ms' : undefined });
    figures.push({ package: 'example-browser', case: c, metric: 'p99', value: x.p99, unit: 'ms' });
  }
  if (floor?.webrtc) {
    const kb = `${Math.round(floor.bytes / 1000)} KB`;
    for (const [key, what] of [['webrtc', 'node-datachannel -> Chromium page over one data channel'], ['websocket', 'Node ws -> Chromium page over one WebSocket']]) {
      const f = floor[key];
      console.log(`floor: ${kb} (a volume as sent) ${what}, 1-byte ack (no relay, RPC, DICOM, worker): p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms`);
      figures.push({ package: 'example-browser', case: `${kb} ${what}, raw + 1-byte ack (floor)`, metric: 'p50', value: f.p50, unit: 'ms' });
    }
  } else if (floor) console.log(`floor measurement failed: ${floor.failed}`);
  if (process.env.RTFMRI_BENCH_JSON) for (const f of figures) appendFileSync(process.env.RTFMRI_BENCH_JSON, JSON.stringify(f) + '\n');
});
