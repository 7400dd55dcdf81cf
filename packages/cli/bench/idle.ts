// Idle cost: relay, runtime (`rtfmri serve`) and an experiment (SDK script) as three processes,
// connected through the relay with a session open and nothing to do. CPU time per wall second of
// each process, from the kernel's per-thread run time (/proc/PID/task/*/schedstat, ns), in two
// windows: right after connecting, and the steady state. Target: <= 1 ms/s per process (issue 9). Linux only.
// Env: RTFMRI_BENCH_IDLE_S (window, default 20), RTFMRI_BENCH_IDLE_SETTLE_S (start of the steady
// window after connecting, default 40), RTFMRI_BENCH_JSON (figures file).
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintClientToken } from '@rtfmri/relay/protocol';
import { spawnScript } from './processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WINDOW_S = Number(process.env.RTFMRI_BENCH_IDLE_S ?? 20);
const TOKEN = 'idle-' + Math.random().toString(36).slice(2);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function start(args: string[], re: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const p = spawnScript(args[0], args.slice(1), { token: TOKEN });
  children.push(p.child);
  return { child: p.child, match: await p.waitFor(re) };
}

/** CPU time of every thread of a process so far, ns. */
function cpuNs(pid: number): number {
  let total = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return total;
}

const children: ChildProcess[] = [];
const cli = path.join(here, '../bin/rtfmri.js');
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-idle-'));
try {
  const relay = await start([cli, 'relay', '--port', '0', '--host', '127.0.0.1'], /relay listening on (ws:\/\/\S+)/);
  const url = relay.match[1]!;
  const serve = await start([cli, 'serve', '--connect', url, '--name', 'scanner1', '--allowed-dirs', data, '--allowed-file-types', '.dcm,.txt'], /serving/);
  const exp = await start([path.join(here, 'idle-experiment.mjs'), url, mintClientToken(TOKEN)], /experiment connected/);
  const connectedAt = performance.now();
  const procs = { relay: relay.child.pid!, runtime: serve.child.pid!, experiment: exp.child.pid! };
  // Two windows: right after connecting (start-up JIT, the first GCs and V8's memory reducer run for
  // ~30 s), and the steady state after a settle.
  const settleS = Number(process.env.RTFMRI_BENCH_IDLE_SETTLE_S ?? 40);
  for (const [label, startS] of [['after connect', 3], ['steady', settleS]] as const) {
    await sleep(Math.max(0, startS * 1000 - (performance.now() - connectedAt)));
    const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuNs(pid)]));
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const wallS = (performance.now() - t0) / 1000;
    for (const [name, pid] of Object.entries(procs)) {
      const msPerS = (cpuNs(pid) - before[name]!) / 1e6 / wallS;
      const target = label === 'steady' ? ` (target <= 1 ms/s: ${msPerS <= 1 ? 'met' : 'MISSED'})` : '';
      console.log(`idle CPU ${label}, ${name} process (session open, nothing to do): ${msPerS.toFixed(3)} ms/s over ${wallS.toFixed(1)} s from ${startS} s${target}`);
      if (process.env.RTFMRI_BENCH_JSON) {
        fs.appendFileSync(process.env.RTFMRI_BENCH_JSON, JSON.stringify({ package: 'cli', case: `idle CPU ${label} ${name}`, metric: 'cpu', value: Number(msPerS.toFixed(4)), unit: 'ms/s' }) + '\n');
      }
    }
  }
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(data, { recursive: true, force: true });
}
