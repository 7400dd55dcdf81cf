// Runtime benchmark: file whole on disk (writer closes or renames it) -> getImageData resolves with
// the parsed (and, when dicom-wasm has it, anonymized) dataset. The writer is another thread (the
// scanner); the DataInterface runs in this one, as in the control room.
// Env: RTFMRI_BENCH_N (single-stream samples, default 200), RTFMRI_BENCH_FULL=1 (32 streams for the
// full 60 s instead of 20 s), RTFMRI_BENCH_MANY_POOL=0 (skip the 32-stream run with all work in the
// pool), RTFMRI_BENCH_JSON (figures file, one JSON line per figure).
import fs from 'node:fs';
import { execSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as dicom from '@rtfmri/dicom-wasm';
import { DataInterface, type WorkRoute } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.RTFMRI_BENCH_N ?? 200);
const FULL = process.env.RTFMRI_BENCH_FULL === '1';
const STREAMS = 32;
const TR = 0.5;
const DURATION = FULL ? 60 : 20;
const hasAnon = typeof (dicom as unknown as { anonymize?: unknown }).anonymize === 'function' && process.env.RTFMRI_BENCH_ANON !== '0';
const ONLY = process.env.RTFMRI_BENCH_ONLY; // 'single' | 'many' (debugging aid)
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function figure(c: string, metric: string, value: number, unit: string, note?: string): void {
  const line = JSON.stringify({ package: 'runtime', case: c, metric, value: Number(value.toFixed(4)), unit, ...(note ? { note } : {}) });
  if (process.env.RTFMRI_BENCH_JSON) fs.appendFileSync(process.env.RTFMRI_BENCH_JSON, line + '\n');
}

let early = 0;
/** Delivered before the writer closed the file (it was preempted after its last write): counted, as 0 ms. */
function latency(at: number, stamp: number): number {
  if (stamp === 0 || at < stamp) { early++; return 0; }
  return at - stamp;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function volume(): Uint8Array {
  const sample = path.resolve(here, '../../../../shared/data/rtcloud-sample/001_000013_000001.dcm');
  const synth = (dicom as unknown as { syntheticEpiVolume?: (i: number) => Uint8Array }).syntheticEpiVolume;
  if (synth) return synth(1);
  return new Uint8Array(fs.readFileSync(sample));
}

const SLOTS = 1 << 16;
const stampsBuf = new SharedArrayBuffer(SLOTS * 8);
const stamps = new Float64Array(stampsBuf);
const writer = new Worker(path.join(here, 'writer.mjs'), { workerData: { stamps: stampsBuf } });
let slotNext = 0;
function writeFile(file: string, bytes: Uint8Array, mode: 'inplace' | 'rename', chunks: number, gapMs: number): { slot: number; done: Promise<void> } {
  const slot = slotNext++ % SLOTS;
  stamps[slot] = 0;
  const done = new Promise<void>((resolve) => {
    const on = (m: { type: string; slot: number }) => { if (m.type === 'written' && m.slot === slot) { writer.off('message', on); resolve(); } };
    writer.on('message', on);
  });
  writer.postMessage({ type: 'write', file, bytes, mode, chunks, gapMs, slot });
  return { slot, done };
}

async function single(label: string, dir: string, mode: 'inplace' | 'rename', work: WorkRoute, bytes: Uint8Array, n: number, watchRoute: 'auto' | 'polling' = 'auto'): Promise<{ p50: number; p99: number }> {
  const di = new DataInterface({ allowedDirs: [dir], allowedFileTypes: ['.dcm'], work, watchRoute, pollIntervalMs: watchRoute === 'polling' ? 1000 : 250 });
  const prefix = `${label.replace(/\W+/g, '_')}_`;
  const id = await di.initScannerStream(dir, `${prefix}{TR:05d}.dcm`, 0, hasAnon);
  const lat: number[] = [];
  let cpu0 = process.cpuUsage();
  for (let i = 0; i < n + 5; i++) {
    if (i === 5) cpu0 = process.cpuUsage();
    const pending = di.getImageData(id, i, 10).then(() => now());
    // 4 chunks, 2 ms apart: the reader sees (and rejects) partial files on the way, as in real life
    const w = writeFile(path.join(dir, `${prefix}${String(i).padStart(5, '0')}.dcm`), bytes, mode, 4, 2);
    const at = await pending;
    await w.done;
    if (i >= 5) lat.push(latency(at, stamps[w.slot]));
  }
  const cpu = process.cpuUsage(cpu0);
  await di.close();
  const cpuPer = (cpu.user + cpu.system) / 1000 / n;
  const r = { p50: pct(lat, 50), p99: pct(lat, 99) };
  const earlyHere = early;
  early = 0;
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  console.log(`${label.padEnd(52)} p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  mean ${mean.toFixed(3)} ms  max ${pct(lat, 100).toFixed(3)} ms  CPU ${cpuPer.toFixed(2)} ms/image  (n=${lat.length}, work ${work}: inline ${di.routed.inline} / pool ${di.routed.pool}; ${earlyHere} delivered before close())`);
  figure(label, 'p50', r.p50, 'ms');
  figure(label, 'p99', r.p99, 'ms');
  return r;
}

/** The floor on this machine: one bare fs.watch + readFileSync + isComplete + parseDicom, no actors. */
async function floor(dir: string, mode: 'inplace' | 'rename', bytes: Uint8Array, n: number): Promise<void> {
  const want = new Map<string, (t: number) => void>();
  const w = fs.watch(dir, (_e, name) => {
    const fn = name && want.get(String(name));
    if (!fn) return;
    try {
      const b = fs.readFileSync(path.join(dir, String(name)));
      if (!dicom.isComplete(b)) return;
      dicom.parseDicom(b);
      want.delete(String(name));
      fn(now());
    } catch { /* not there yet */ }
  });
  const lat: number[] = [];
  for (let i = 0; i < n + 5; i++) {
    const name = `floor_${mode}_${i}.dcm`;
    const seen = new Promise<number>((r) => want.set(name, r));
    const wr = writeFile(path.join(dir, name), bytes, mode, 4, 2);
    const at = await seen;
    await wr.done;
    if (i >= 5) lat.push(latency(at, stamps[wr.slot]));
  }
  w.close();
  const label = `floor: bare fs.watch+read+isComplete+parse, ${mode}`;
  console.log(`${label.padEnd(52)} p50 ${pct(lat, 50).toFixed(3)} ms  p99 ${pct(lat, 99).toFixed(3)} ms  max ${pct(lat, 100).toFixed(3)} ms  (n=${lat.length})`);
  figure(label, 'p50', pct(lat, 50), 'ms', 'no DataInterface: the machine floor');
  figure(label, 'p99', pct(lat, 99), 'ms', 'no DataInterface: the machine floor');
}

/** Baselines: chokidar's detection of a renamed-in file in the same 10,000-file folder. */
async function chokidarBaseline(dir: string, bytes: Uint8Array, n: number, polling: boolean): Promise<void> {
  const { watch } = await import('chokidar');
  let expected = '';
  const w = polling
    // the configuration a fallback route would use: per folder, depth 0, only the expected name let through
    ? watch(dir, { ignoreInitial: true, usePolling: true, interval: 100, binaryInterval: 100, depth: 0, awaitWriteFinish: false,
      ignored: (p: string) => p !== dir && path.basename(p) !== expected })
    : watch(dir, { ignoreInitial: true });
  await new Promise<void>((r) => w.on('ready', () => r()));
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const name = `chok_${polling ? 'p' : 'n'}_${i}.dcm`;
    expected = name;
    const seen = new Promise<number>((r) => {
      const on = (p: string) => { if (path.basename(p) === name) { w.off('add', on); r(now()); } };
      w.on('add', on);
    });
    const wr = writeFile(path.join(dir, name), bytes, 'rename', 1, 0);
    const at = await seen;
    await wr.done;
    lat.push(at - stamps[wr.slot]);
  }
  const cpu = process.cpuUsage(cpu0);
  await w.close();
  const label = polling
    ? 'baseline: chokidar polling 100 ms, depth 0, filter, 10,000 files'
    : 'baseline: chokidar defaults, 10,000 files';
  const cpuPer = (cpu.user + cpu.system) / 1000 / n;
  console.log(`${label.padEnd(52)} p50 ${pct(lat, 50).toFixed(3)} ms  p99 ${pct(lat, 99).toFixed(3)} ms  CPU ${cpuPer.toFixed(1)} ms/file (n=${n}, 'add' event only, no validation; CPU incl. the writer thread)`);
  figure(label, 'CPU per file', cpuPer, 'ms');
  figure(label, 'p50', pct(lat, 50), 'ms', 'detection only');
}

async function many(dir: string, bytes: Uint8Array, work: WorkRoute = 'auto', duration = DURATION): Promise<void> {
  const di = new DataInterface({ allowedDirs: [dir], allowedFileTypes: ['.dcm'], work });
  const count = Math.floor(duration / TR);
  const streams = [];
  for (let s = 0; s < STREAMS; s++) {
    const prefix = `m${String(s).padStart(2, '0')}_`;
    const id = await di.initScannerStream(dir, `${prefix}{TR:03d}.dcm`, 0, hasAnon);
    streams.push({ id, prefix, slot0: 1000 + s * count, phaseMs: (s * TR * 1000) / STREAMS, mode: s % 2 ? 'rename' : 'inplace', chunks: 4, gapMs: 20 });
  }
  for (const s of streams) for (let i = 0; i < count; i++) stamps[s.slot0 + i] = 0;
  const lat: number[] = [];
  let missed = 0;
  let wrong = 0;
  const expectInst = Number(dicom.parseDicom(bytes).get('InstanceNumber'));
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const wall0 = performance.now();
  const t0 = now() + 200;
  const done = new Promise<void>((r) => writer.on('message', (m: { type: string }) => { if (m.type === 'scheduled') r(); }));
  writer.postMessage({ type: 'schedule', streams: streams.map((s) => ({ ...s, dir })), tr: TR, count, t0, bytes });
  const ats: Array<[number, number]> = [];
  await Promise.all(streams.map(async (s) => {
    for (let i = 0; i < count; i++) {
      try {
        const ds = await di.getImageData(s.id, undefined, 5);
        ats.push([now(), s.slot0 + i]);
        if (Number(ds.get('InstanceNumber')) !== expectInst) wrong++;
      } catch {
        missed++;
      }
    }
  }));
  await done;
  early = 0;
  for (const [at, slot] of ats) lat.push(latency(at, stamps[slot]));
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const routed = { ...di.routed };
  await di.close();
  const over10 = lat.filter((x) => x > 10).length;
  const cpuPct = ((cpu.user + cpu.system) / 1000 / wall) * 100;
  const label = `${STREAMS} streams, TR ${TR}s, ${duration}s, ${hasAnon ? 'anonymized' : 'not anonymized'}, ${work}`;
  console.log(`${label.padEnd(52)} p50 ${pct(lat, 50).toFixed(3)} ms  p99 ${pct(lat, 99).toFixed(3)} ms  max ${pct(lat, 100).toFixed(3)} ms`);
  console.log(`${''.padEnd(52)} delivered ${lat.length}/${STREAMS * count}, missed ${missed}, wrong ${wrong}, over 10 ms ${over10}, delivered before close() ${early}; process CPU ${cpuPct.toFixed(1)}% of one core (writer thread included), main event loop ${(elu.utilization * 100).toFixed(1)}% busy; work routed inline ${routed.inline} / pool ${routed.pool}`);
  figure(label, 'p50', pct(lat, 50), 'ms');
  figure(label, 'p99', pct(lat, 99), 'ms');
  figure(label, 'missed', missed, 'images');
  figure(label, 'over 10 ms', over10, 'images');
  figure(label, 'CPU', cpuPct, '% of a core', 'process, writer thread included');
}

async function main(): Promise<void> {
  await dicom.ready();
  const bytes = volume();
  const root = fs.realpathSync(fs.mkdtempSync(path.join(process.env.RTFMRI_BENCH_DIR ?? os.tmpdir(), 'rtfmri-rt-bench-')));
  console.log(`runtime benchmark in ${root}: ${bytes.length} byte mosaic, ${N} samples per single-stream case, ${hasAnon ? 'anonymize on' : 'anonymize OFF (dicom-wasm has no anonymize() yet)'}; ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  try {
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    if (ONLY === 'many') { const m = path.join(root, 'many'); fs.mkdirSync(m); await many(m, bytes); return; }
    await floor(empty, 'inplace', bytes, N);
    await floor(empty, 'rename', bytes, N);
    await single('1 stream, in place, inline work', empty, 'inplace', 'inline', bytes, N);
    await single('1 stream, in place, pool work', empty, 'inplace', 'pool', bytes, N);
    await single('1 stream, in place (auto)', empty, 'inplace', 'auto', bytes, N);
    await single('1 stream, rename-in (auto)', empty, 'rename', 'auto', bytes, N);
    if (ONLY === 'single') return;
    const full = path.join(root, 'full');
    fs.mkdirSync(full);
    for (let i = 0; i < 10_000; i++) fs.writeFileSync(path.join(full, `old_${String(i).padStart(5, '0')}.dcm`), 'x');
    // let the 10,000 creations reach the disk before measuring (writeback stalls are not the watcher's)
    execSync('sync');
    await sleep(500);
    await single('1 stream, in place (auto), 10,000 files in folder', full, 'inplace', 'auto', bytes, N);
    await single('1 stream, rename-in (auto), 10,000 files in folder', full, 'rename', 'auto', bytes, N);
    if (process.env.RTFMRI_BENCH_CHOKIDAR !== '0') {
      await chokidarBaseline(full, bytes, 20, false);
      await chokidarBaseline(full, bytes, 20, true);
    }
    {
      await single('polling route (100 ms), rename-in, 10,000 files', full, 'rename', 'auto', bytes, 30, 'polling');
    }
    const m = path.join(root, 'many');
    fs.mkdirSync(m);
    await many(m, bytes, 'auto');
    if (process.env.RTFMRI_BENCH_MANY_POOL !== '0') {
      const m2 = path.join(root, 'many-pool');
      fs.mkdirSync(m2);
      // comparison only: shorter unless the full run was asked for
      await many(m2, bytes, 'pool', FULL ? DURATION : 10);
    }
    console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    await writer.terminate();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
