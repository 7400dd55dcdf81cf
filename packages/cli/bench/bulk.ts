// Bulk-transfer benchmark (issue 11): large files through `rtfmri relay` + `rtfmri serve` (two child
// processes, WebSocket on loopback) to an experiment that is a third child process
// (bench/bulk-client.mjs, the SDK as experiment code uses it), while this process plays a second
// client (pings, a scanner stream) and the scanner (a writer thread).
//   getFile x3         1 GiB getFile, three calls in a row (the bytes held once, in the experiment)
//   upload x3          uploadFilesFromList of the 1 GiB file to the experiment's disk, three in a row
//   download x3        downloadFilesFromList of a 1 GiB local file to the runtime's disk, three in a row
//   under load         pings (every 10 ms) and a scanner stream (TR 0.5 s) from this process while
//                      the experiment runs uploads (then downloads) back to back
//   16 in step         16 streams, all 16 files closed at the same instant (no transfer running)
//   round trip         BIG GiB uploaded then downloaded, sha-256 of the original, the copy here and
//                      the copy back; RSS sampled every 100 ms
//   floor              the machine's own limits in the same run (bench/floor.mjs): the file through
//                      three plain-TCP node processes into one array, and written to disk
// Peak RSS per case: /proc/PID/clear_refs reset before, VmHWM after (sampled VmRSS as a fallback).
// Every figure is printed with os.loadavg().
// Env: RTFMRI_BENCH_SIZE_MIB (default 1024), RTFMRI_BENCH_BIG_GIB (round trip size, default 1; 10 for
// the 10 GiB case), RTFMRI_BENCH_LOAD_S (seconds per load phase, default 20), RTFMRI_BENCH_ONLY
// (comma list of: floor,getfile,upload,download,load,burst,roundtrip), RTFMRI_BENCH_DIR, RTFMRI_BENCH_JSON.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { ACTIVE_MS, mintClientToken } from '@rtfmri/relay/protocol';
import { DataInterface } from '@rtfmri/sdk';
import { spawnScript, type Spawned } from './processes.js';
import { startWriter } from './scanner.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1 << 20;
const SIZE = Number(process.env.RTFMRI_BENCH_SIZE_MIB ?? 1024) * MiB;
const BIG_GIB = Number(process.env.RTFMRI_BENCH_BIG_GIB ?? 1);
const LOAD_S = Number(process.env.RTFMRI_BENCH_LOAD_S ?? 20);
const ONLY = process.env.RTFMRI_BENCH_ONLY?.split(',').map((s) => s.trim());
const want = (c: string) => !ONLY || ONLY.includes(c);
/** RTFMRI_BENCH_PROF=DIR: the three child processes write V8 CPU profiles there (at exit). */
const PROF = [
  ...(process.env.RTFMRI_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.RTFMRI_BENCH_PROF}`] : []),
  /** RTFMRI_BENCH_NODE_ARGS: more node options for the three child processes (e.g. --trace-gc). */
  ...(process.env.RTFMRI_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];
/** RTFMRI_BENCH_LOGS=DIR: the relay's and the runtime's output are also written to DIR/relay.log and DIR/serve.log. */
const LOGS = process.env.RTFMRI_BENCH_LOGS;
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);
const TR = 0.5;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
function figure(c: string, metric: string, value: number, unit: string, note?: string): void {
  const line = JSON.stringify({ package: 'cli', case: c, metric, value: Number(value.toFixed(4)), unit, note: `${note ? note + '; ' : ''}load ${load()}` });
  if (process.env.RTFMRI_BENCH_JSON) fs.appendFileSync(process.env.RTFMRI_BENCH_JSON, line + '\n');
}
function say(line: string): void {
  console.log(`${line}   [load ${load()}]`);
}

// ---- processes ---------------------------------------------------------------------------------
function cli(args: string[]): Spawned {
  return spawnScript(path.join(here, '../bin/rtfmri.js'), args, { token: TOKEN, nodeArgs: PROF, logFile: LOGS ? path.join(LOGS, `${args[0]}.log`) : undefined });
}

interface Reply { ok: boolean; ms: number; error?: string; bytes?: number; calls?: number; failed?: number; errors?: string[]; sha?: string; dest?: string }

function experiment(url: string): { child: ChildProcess; ready: Promise<void>; cmd(m: Record<string, unknown>): Promise<Reply> } {
  const token = mintClientToken(TOKEN, { sub: 'bench-bulk' });
  // --expose-gc: the client collects before each case, so a case's peak RSS is not the last one's garbage.
  const child = fork(path.join(here, 'bulk-client.mjs'), [url, token, 'bench'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc', ...PROF] });
  let next = 0;
  const waiting = new Map<number, (r: Reply) => void>();
  let readyRes!: () => void;
  const ready = new Promise<void>((r) => (readyRes = r));
  child.on('message', (m: Reply & { id?: number; ready?: boolean }) => {
    if (m.ready) return readyRes();
    waiting.get(m.id!)?.(m);
    waiting.delete(m.id!);
  });
  child.on('exit', (code) => {
    for (const [, w] of waiting) w({ ok: false, ms: 0, error: `experiment process exited (${code})` });
    waiting.clear();
  });
  return {
    child,
    ready,
    cmd: (m) =>
      new Promise((r) => {
        const id = next++;
        waiting.set(id, r);
        child.send({ ...m, id });
      }),
  };
}

// ---- memory --------------------------------------------------------------------------------------
/** CPU seconds per thread name of a process (user + system). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      const name = `${fs.readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim()}${t === String(pid) ? '(main)' : ''}`;
      const f = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(t === String(pid) ? name : `${name}#${t}`, (Number(f[11]) + Number(f[12])) / 100);
    }
  } catch {
    // gone
  }
  return out;
}

/** CPU seconds a process has used so far: [user, system]. */
function cpuSeconds(pid: number): [number, number] {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return [Number(f[11]) / 100, Number(f[12]) / 100];
  } catch {
    return [NaN, NaN];
  }
}

class Peaks {
  private sampled = new Map<number, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private cpu0 = new Map<number, [number, number]>();
  private t0 = 0;
  /** CPU use of each process over the last start..stop, % of one core: [user, system]. */
  cpu: Record<string, [number, number]> = {};
  /** CPU seconds (user + system, all threads) of each process over the last start..stop. */
  cpuSec: Record<string, number> = {};
  constructor(private readonly procs: Record<string, ChildProcess>) {}
  private rss(pid: number, field: 'VmRSS' | 'VmHWM'): number {
    try {
      const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
      return m ? Number(m[1]) * 1024 : NaN;
    } catch {
      return NaN;
    }
  }
  start(): void {
    this.sampled.clear();
    this.t0 = performance.now();
    for (const p of Object.values(this.procs)) this.cpu0.set(p.pid!, cpuSeconds(p.pid!));
    for (const p of Object.values(this.procs)) {
      try {
        fs.writeFileSync(`/proc/${p.pid}/clear_refs`, '5');
      } catch {
        // no reset: VmHWM is the lifetime peak; the sampled maximum still is this case's
      }
    }
    this.timer = setInterval(() => {
      for (const p of Object.values(this.procs)) this.sampled.set(p.pid!, Math.max(this.sampled.get(p.pid!) ?? 0, this.rss(p.pid!, 'VmRSS')));
    }, 100);
  }
  stop(): Record<string, number> {
    clearInterval(this.timer);
    const wall = (performance.now() - this.t0) / 1000;
    for (const [k, p] of Object.entries(this.procs)) {
      const [u, s] = cpuSeconds(p.pid!);
      const [u0, s0] = this.cpu0.get(p.pid!)!;
      this.cpu[k] = [(100 * (u - u0)) / wall, (100 * (s - s0)) / wall];
      this.cpuSec[k] = u - u0 + s - s0;
    }
    const out: Record<string, number> = {};
    for (const [k, p] of Object.entries(this.procs)) out[k] = Math.max(this.rss(p.pid!, 'VmHWM') || 0, this.sampled.get(p.pid!) ?? 0);
    return out;
  }
}
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const cpuPart = (x: [number, number]) => `${(x[0] + x[1]).toFixed(0)}% (${x[0].toFixed(0)} user + ${x[1].toFixed(0)} sys)`;
const cpuLine = (c: Record<string, [number, number]>) => `CPU runtime ${cpuPart(c.runtime!)} / relay ${cpuPart(c.relay!)} / experiment ${cpuPart(c.experiment!)} of a core`;


/** A file of `size` bytes of random-looking data (16 MiB random blocks, each stamped with its index); its sha-256. */
function makeFile(file: string, size: number): string {
  const block = Buffer.allocUnsafe(16 * MiB);
  randomFillSync(block);
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0, i = 0; off < size; off += block.length, i++) {
      block.writeUInt32LE(i, 0);
      const n = Math.min(block.length, size - off);
      fs.writeSync(fd, block, 0, n, off);
      h.update(block.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * Writes dirty pages out before a case: the kernel's write-back of GiBs just written (the test
 * files, the disk floor) would otherwise run during the next case and take CPU from it.
 */
function flushDirty(): void {
  try {
    execFileSync('sync');
  } catch {
    // no sync(1): the next case shares the CPU with the write-back
  }
}

async function main(): Promise<void> {
  say(`bulk benchmark: relay + runtime + experiment as child processes, ws on loopback, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`);
  const root = fs.realpathSync(fs.mkdtempSync(path.join(process.env.RTFMRI_BENCH_DIR ?? os.tmpdir(), 'rtfmri-bulk-')));
  const rtDir = path.join(root, 'control-room');
  const expDir = path.join(root, 'experiment');
  fs.mkdirSync(rtDir);
  fs.mkdirSync(expDir);
  const big = path.join(rtDir, 'big.bin');
  const local = path.join(expDir, 'local.bin');
  // The 1 GiB files only for the cases that move them (a burst-only run skips writing 2 GiB).
  if (['floor', 'getfile', 'upload', 'download', 'load'].some(want)) {
    makeFile(big, SIZE);
    makeFile(local, SIZE);
    flushDirty();
  }

  const relay = cli(['relay', '--port', '0', '--host', '127.0.0.1']);
  const port = (await relay.waitFor(/\(port (\d+)\)/))[1];
  const url = `ws://127.0.0.1:${port}`;
  const runtime = cli(['serve', '--connect', url, '--name', 'bench', '--allowed-dirs', rtDir, '--allowed-file-types', '.dcm,.bin',
    '--uid-secret-file', path.join(root, 'uid-secret')]);
  await runtime.waitFor(/registered with the relay/);
  const exp = experiment(url);
  await exp.ready;
  const peaks = new Peaks({ runtime: runtime.child, relay: relay.child, experiment: exp.child });
  // This process: another client (pings, a scanner stream).
  const other = new DataInterface({ dataRemote: true, url, token: mintClientToken(TOKEN, { sub: 'bench-other' }), name: 'bench', callTimeoutMs: 120_000 });
  await other.waitForRuntime(30);
  const vol = syntheticEpiVolume(1);
  const writer = startWriter(vol);
  /** Resets the peaks once the experiment has collected its garbage (a case's peak is its own). */
  const startPeaks = async () => {
    await exp.cmd({ op: 'gc' });
    await sleep(200);
    peaks.start();
  };
  const rows: string[] = [];
  const row = (s: string) => {
    rows.push(`${s}   [load ${load()}]`);
    say(s);
  };

  const gbps = (bytes: number, ms: number) => bytes / 1e6 / ms; // GB/s
  async function inARow(c: string, label: string, m: () => Record<string, unknown>, after?: (r: Reply) => void): Promise<void> {
    const results: Reply[] = [];
    await startPeaks();
    for (let i = 0; i < 3; i++) {
      const r = await exp.cmd(m());
      results.push(r);
      say(`  ${label} call ${i + 1}: ${r.ok ? `ok, ${r.ms.toFixed(0)} ms, ${gbps(r.bytes!, r.ms).toFixed(2)} GB/s` : `FAILED after ${r.ms.toFixed(0)} ms: ${r.error}`}`);
      after?.(r);
    }
    const p = peaks.stop();
    const ok = results.filter((r) => r.ok);
    const rates = ok.map((r) => gbps(r.bytes!, r.ms));
    // CPU seconds per GiB moved: what the load of other processes changes least
    const gib = ok.reduce((a, r) => a + r.bytes!, 0) / 2 ** 30;
    const perGib = (k: string) => (gib ? (peaks.cpuSec[k]! / gib).toFixed(2) : '-');
    row(`${label}: ${ok.length}/3 ok, ${rates.length ? `${Math.min(...rates).toFixed(2)}-${Math.max(...rates).toFixed(2)} GB/s` : '-'}; peak RSS runtime ${mib(p.runtime)} / relay ${mib(p.relay)} / experiment ${mib(p.experiment)}; ${cpuLine(peaks.cpu)}; CPU s/GiB runtime ${perGib('runtime')} / relay ${perGib('relay')} / experiment ${perGib('experiment')}`);
    figure(label, 'ok', ok.length, 'of 3');
    if (rates.length) figure(label, 'min rate', Math.min(...rates), 'GB/s');
    for (const [k, v] of Object.entries(p)) figure(label, `peak RSS ${k}`, v / MiB, 'MiB');
  }

  // The machine's limits for the rows below (bench/floor.mjs): the same processes' places, plain TCP, no rtfmri.
  const spawnFloor = (args: string[]) => spawnScript(path.join(here, 'floor.mjs'), args, { token: TOKEN });
  async function floors(): Promise<void> {
    const sink = spawnFloor(['sink', '-', String(SIZE / MiB)]);
    const sinkPort = (await sink.waitFor(/ready (\d+)/))[1]!;
    const fwd = spawnFloor(['forward', '-', sinkPort]);
    const fwdPort = (await fwd.waitFor(/ready (\d+)/))[1]!;
    const src = spawnFloor(['source', fwdPort, big]);
    await src.waitFor(/done/, 120_000);
    await sink.waitFor(/call 3: /);
    const tcp = [...sink.text().matchAll(/call \d: ([\d.]+)/g)].map((m) => gbps(SIZE, Number(m[1])));
    for (const p of [sink, fwd, src]) p.child.kill();
    row(`floor: ${mib(SIZE)} through three node processes on plain TCP (file read -> forwarder -> one array), 3 in a row: ${Math.min(...tcp).toFixed(2)}-${Math.max(...tcp).toFixed(2)} GB/s`);
    if (tcp.length) figure('floor tcp', 'min rate', Math.min(...tcp), 'GB/s');
  }
  async function diskFloor(): Promise<void> {
    const disk = spawnFloor(['disk', path.join(expDir, 'floor.bin'), String(SIZE / MiB)]);
    await disk.waitFor(/done/, 300_000);
    const w = [...disk.text().matchAll(/call \d: ([\d.]+)/g)].map((m) => gbps(SIZE, Number(m[1])));
    row(`floor: writing ${mib(SIZE)} to the experiment's disk (1 MiB writes, temp + rename), 3 in a row: ${Math.min(...w).toFixed(2)}-${Math.max(...w).toFixed(2)} GB/s`);
    if (w.length) figure('floor disk', 'min rate', Math.min(...w), 'GB/s');
    flushDirty();
  }

  try {
    // The transfer rows run alone: the other client's session (connected just now) goes idle
    // first, else the runtime shares its link with it (a transfer then yields: smaller chunks, less
    // in flight; the load rows measure that).
    if (['getfile', 'upload', 'download'].some(want)) await sleep(ACTIVE_MS + 500);
    if (want('floor')) await floors();
    if (want('getfile')) await inARow('getfile', `getFile ${mib(SIZE)} via relay`, () => ({ op: 'getFile', file: big }));
    if (want('floor') && want('upload')) await diskFloor();
    if (want('upload')) await inARow('upload', `uploadFilesFromList ${mib(SIZE)} to disk via relay`, () => ({ op: 'upload', file: big, out: path.join(expDir, 'up') }), (r) => r.dest && fs.rmSync(r.dest, { force: true }));
    if (want('download')) await inARow('download', `downloadFilesFromList ${mib(SIZE)} to the runtime's disk via relay`, () => ({ op: 'download', file: local, out: path.join(rtDir, 'down') }));

    if (want('load')) {
      for (const kind of ['upload', 'download'] as const) {
        const sdir = path.join(rtDir, `stream-${kind}`);
        fs.mkdirSync(sdir);
        const id = await other.initScannerStream(sdir, 'vol_{TR:05d}.dcm', 0);
        // warm-up: a few volumes and pings before the load starts
        for (let i = 0; i < 3; i++) {
          const got = other.getImageData(id, i, 5);
          await sleep(20);
          await writer.write(path.join(sdir, `vol_${String(i).padStart(5, '0')}.dcm`));
          await got;
          await other.ping();
        }
        await startPeaks();
        const loop = exp.cmd({ op: 'loop', kind, seconds: LOAD_S, file: kind === 'upload' ? big : local, out: kind === 'upload' ? path.join(expDir, 'loop') : path.join(rtDir, 'loop') });
        let done = false;
        void loop.then(() => (done = true));
        await sleep(300);
        const pings: number[] = [];
        let pingFails = 0;
        const pinger = (async () => {
          while (!done) {
            const t0 = performance.now();
            try {
              await other.ping();
              pings.push(performance.now() - t0);
            } catch {
              pingFails++;
            }
            await sleep(10);
          }
        })();
        const lat: number[] = [];
        let streamFails = 0;
        const streamer = (async () => {
          for (let i = 3; !done; i++) {
            const got = other.getImageData(id, i, 10).then(() => now(), () => NaN);
            await sleep(TR * 1000);
            const stamp = await writer.write(path.join(sdir, `vol_${String(i).padStart(5, '0')}.dcm`));
            const t = await got;
            if (Number.isNaN(t)) streamFails++;
            else if (!done) lat.push(t - stamp);
          }
        })();
        const r = await loop;
        await Promise.all([pinger, streamer]);
        const p = peaks.stop();
        const label = `during ${kind === 'upload' ? 'uploadFilesFromList' : 'downloadFilesFromList'} of ${mib(SIZE)} back to back (${LOAD_S} s)`;
        row(`${label}: transfers ${r.ok ? `${r.calls! - r.failed!}/${r.calls} ok, ${(r.bytes! / 1e6 / (LOAD_S * 1000)).toFixed(2)} GB/s${r.errors?.length ? `, errors: ${r.errors.join(' | ')}` : ''}` : `FAILED: ${r.error}`}`);
        row(`  ping from another client: p50 ${pct(pings, 50).toFixed(3)} ms, p99 ${pct(pings, 99).toFixed(2)} ms, max ${Math.max(...pings).toFixed(2)} ms, n=${pings.length}, failed ${pingFails}`);
        row(`  stream (TR ${TR} s) from another client, file closed -> parsed dataset: p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, max ${Math.max(...lat).toFixed(2)} ms, n=${lat.length}, failed ${streamFails}`);
        row(`  peak RSS runtime ${mib(p.runtime)} / relay ${mib(p.relay)} / experiment ${mib(p.experiment)}`);
        figure(label, 'ping p50', pct(pings, 50), 'ms');
        figure(label, 'ping max', Math.max(...pings), 'ms');
        figure(label, 'stream p99', pct(lat, 99), 'ms', `n=${lat.length}`);
        for (const [k, v] of Object.entries(p)) figure(label, `peak RSS ${k}`, v / MiB, 'MiB');
        await other.closeStream(id);
      }
    }

    if (want('burst')) {
      const STREAMS = 16;
      const ids: number[] = [];
      for (let k = 0; k < STREAMS; k++) {
        const dk = path.join(rtDir, `burst${k}`);
        fs.mkdirSync(dk);
        ids.push(await other.initScannerStream(dk, 'vol_{TR:05d}.dcm', 0));
      }
      const cpu0 = [runtime.child, relay.child].map((c) => cpuSeconds(c.pid!));
      const threads0 = threadCpu(runtime.child.pid!);
      const own0 = threadCpu(process.pid);
      const lat: number[] = [];
      const byStream: number[][] = [];
      const byOrder: number[][] = [];
      const t0 = now() + 200;
      const TRS = 12;
      await Promise.all(
        ids.map(async (sid, k) => {
          for (let i = 0; i < TRS; i++) {
            const got = other.getImageData(sid, i, 10).then(() => now());
            await sleep(Math.max(0, t0 + i * TR * 1000 - now()));
            const stamp = await writer.write(path.join(rtDir, `burst${k}`, `vol_${String(i).padStart(5, '0')}.dcm`));
            const t = await got;
            if (i > 1) {
              lat.push(t - stamp);
              (byStream[k] ??= []).push(t - stamp);
              (byOrder[i] ??= []).push(stamp);
            }
          }
        }),
      );
      if (process.env.RTFMRI_BENCH_VERBOSE) {
        const t1 = threadCpu(runtime.child.pid!);
        say(`  runtime CPU by thread, ms per volume: ${[...t1].map(([k, v]) => [k, ((v - (threads0.get(k) ?? 0)) * 1000) / (STREAMS * TRS)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
        // per stream: median latency; per TR: spread of the 16 closes (the writer thread writes them one after another)
        const own1 = threadCpu(process.pid);
        say(`  this process (the client and the scanner's writer thread) CPU by thread, ms per volume: ${[...own1].map(([k, v]) => [k, ((v - (own0.get(k) ?? 0)) * 1000) / (STREAMS * TRS)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
        say(`  per stream p50: ${byStream.map((xs) => pct(xs, 50).toFixed(1)).join(' ')}`);
        say(`  closes spread per TR: ${byOrder.filter(Boolean).map((xs) => (Math.max(...xs) - Math.min(...xs)).toFixed(1)).join(' ')} ms`);
      }
      const label = `${STREAMS} streams, all ${STREAMS} files closed at the same instant, via relay`;
      // CPU per volume (user + system, all threads) over the whole case: less at the mercy of the load than latency
      const perVol = [runtime.child, relay.child].map((c, j) => {
        const [u, s] = cpuSeconds(c.pid!);
        const n = STREAMS * TRS;
        return `${(((u + s - cpu0[j]![0] - cpu0[j]![1]) * 1000) / n).toFixed(2)} ms (${(((s - cpu0[j]![1]) * 1000) / n).toFixed(2)} sys)`;
      });
      row(`${label}: p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, max ${Math.max(...lat).toFixed(2)} ms, n=${lat.length}; CPU per volume runtime ${perVol[0]} / relay ${perVol[1]}`);
      figure(label, 'p99', pct(lat, 99), 'ms');
      for (const id of ids) await other.closeStream(id);
    }

    if (want('roundtrip')) {
      const size = BIG_GIB * 1024 * MiB;
      const src = path.join(rtDir, 'roundtrip.bin');
      const t0 = performance.now();
      const sha0 = makeFile(src, size);
      say(`  round trip: made ${BIG_GIB} GiB source in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      await startPeaks();
      const up = await exp.cmd({ op: 'upload', file: src, out: path.join(expDir, 'rt') });
      const pUp = peaks.stop();
      fs.rmSync(src);
      let line = `${BIG_GIB} GiB upload: ${up.ok ? `ok, ${(up.ms / 1000).toFixed(1)} s, ${gbps(up.bytes!, up.ms).toFixed(2)} GB/s` : `FAILED: ${up.error}`}; peak RSS runtime ${mib(pUp.runtime)} / relay ${mib(pUp.relay)} / experiment ${mib(pUp.experiment)}`;
      let exact = false;
      if (up.ok) {
        const sha1 = (await exp.cmd({ op: 'sha', file: up.dest })).sha;
        await startPeaks();
        const down = await exp.cmd({ op: 'download', file: up.dest, out: path.join(rtDir, 'back') });
        const pDown = peaks.stop();
        fs.rmSync(up.dest!, { force: true });
        const back = path.join(rtDir, 'back', 'roundtrip.bin');
        const sha2 = down.ok ? sha256File(back) : '';
        fs.rmSync(back, { force: true });
        exact = sha1 === sha0 && sha2 === sha0;
        line += `; then download: ${down.ok ? `ok, ${(down.ms / 1000).toFixed(1)} s, ${gbps(down.bytes!, down.ms).toFixed(2)} GB/s` : `FAILED: ${down.error}`}; peak RSS runtime ${mib(pDown.runtime)} / relay ${mib(pDown.relay)} / experiment ${mib(pDown.experiment)}`;
        line += `; sha-256 ${exact ? 'equal (original, copy, copy back)' : `DIFFERENT (${sha0.slice(0, 12)} / ${String(sha1).slice(0, 12)} / ${sha2.slice(0, 12)})`}`;
      }
      row(line);
      figure(`${BIG_GIB} GiB round trip`, 'byte-exact', exact ? 1 : 0, 'bool');
    }
  } finally {
    await writer.stop();
    await exp.cmd({ op: 'exit' }).catch(() => undefined);
    await other.close().catch(() => undefined);
    runtime.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');
    exp.child.kill('SIGTERM');
    await sleep(300);
    fs.rmSync(root, { recursive: true, force: true });
    console.log('\nsummary:');
    for (const r of rows) console.log(r);
  }
}

await main();
