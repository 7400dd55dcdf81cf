// Remote benchmark: through a relay and a control-room runtime (two child processes, the real
// `rtfmri relay` and `rtfmri serve`) over WebSocket on loopback, as an experiment in this process
// sees it. The scanner is a writer thread here that stamps the moment each file becomes whole
// (just before its single write(), so the write itself counts in the latency).
//   e2e      file whole on disk -> experiment holds the parsed, anonymized dataset (457 KB mosaic)
//   getFile  the same 457 KB file
//   ping     DataInterface.ping() round trip (experiment -> relay -> runtime -> back)
//   streams  16 concurrent scanner streams at TR 0.5 s, scanners not in step (staggered)
// Env: RTFMRI_BENCH_N (e2e samples, default 200), RTFMRI_BENCH_PACED (samples at TR pace, default
// 30), RTFMRI_BENCH_JSON (figures file).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dicom from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { RpcPeer } from '@rtfmri/transport';
import { connectWs } from '@rtfmri/transport/node';
import { mintClientToken, RelayClient } from '@rtfmri/relay/protocol';
import { spawnScript, type Spawned } from './processes.js';
import { startWriter } from './scanner.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.RTFMRI_BENCH_N ?? 200);
const STREAMS = 16;
const TR = 0.5;
const STREAM_TRS = 20;
const PACED = Number(process.env.RTFMRI_BENCH_PACED ?? 30);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
function figure(c: string, metric: string, value: number, unit: string, note?: string): void {
  const line = JSON.stringify({ package: 'runtime', case: c, metric, value: Number(value.toFixed(4)), unit, ...(note ? { note } : {}) });
  if (process.env.RTFMRI_BENCH_JSON) fs.appendFileSync(process.env.RTFMRI_BENCH_JSON, line + '\n');
}
function report(c: string, xs: number[], target?: { p50?: number; p99?: number }, note?: string): void {
  const p50 = pct(xs, 50);
  const p99 = pct(xs, 99);
  const mark = (v: number, t?: number) => (t === undefined ? '' : v < t ? ` (target < ${t}: met)` : ` (target < ${t}: MISSED)`);
  console.log(`${c}: p50 ${p50.toFixed(3)} ms${mark(p50, target?.p50)}, p99 ${p99.toFixed(3)} ms${mark(p99, target?.p99)}, max ${Math.max(...xs).toFixed(3)} ms, n=${xs.length}`);
  figure(c, 'p50', p50, 'ms', note);
  figure(c, 'p99', p99, 'ms', note);
}

function volumeBytes(): { bytes: Uint8Array; what: string } {
  const sample = path.resolve(here, '../../../../shared/data/rtcloud-sample/001_000013_000001.dcm');
  if (fs.existsSync(sample)) return { bytes: new Uint8Array(fs.readFileSync(sample)), what: 'rt-cloud sample mosaic' };
  return { bytes: syntheticEpiVolume(1), what: 'synthetic mosaic' };
}


// ---- processes -----------------------------------------------------------------------------------
function cli(args: string[], script = path.join(here, '../bin/rtfmri.js')): Spawned {
  return spawnScript(script, args, { token: TOKEN });
}

/**
 * The floor, measured in the same run: the same three processes and two WebSocket hops on the
 * transport's links, with no RPC, no relay protocol and no file read (bench/floor-peer.mjs).
 */
async function floor(size: number): Promise<void> {
  const script = path.join(here, 'floor-peer.mjs');
  const relay = cli(['forward'], script);
  const port = (await relay.waitFor(/\(port (\d+)\)/))[1];
  const runtime = cli(['serve', `ws://127.0.0.1:${port}`, String(size)], script);
  await runtime.waitFor(/connected/);
  const link = await connectWs(`ws://127.0.0.1:${port}`);
  let wake: (() => void) | undefined;
  link.onMessage(() => wake?.());
  const roundTrip = (req: Uint8Array) =>
    new Promise<void>((r) => {
      wake = r;
      link.send(req);
    });
  try {
    for (const [c, req, n] of [
      [`floor: ${(size / 1024).toFixed(0)} KiB reply through relay+runtime processes (ws, no RPC/file read)`, new Uint8Array([0, 0]), 320],
      ['floor: 1-byte round trip through relay+runtime processes (ws, no RPC)', new Uint8Array([0]), 3000],
    ] as const) {
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await roundTrip(req);
        if (i >= n / 15) xs.push(performance.now() - t0);
      }
      report(c, xs);
    }
  } finally {
    link.close('done');
    runtime.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-remote-bench-')));
  const { bytes, what } = volumeBytes();
  console.log(`remote benchmark: relay + runtime child processes, WebSocket on loopback, ${what} ${(bytes.length / 1024).toFixed(0)} KiB, ${os.cpus().length} cores`);
  const relay = cli(['relay', '--port', '0', '--host', '127.0.0.1']);
  const port = (await relay.waitFor(/\(port (\d+)\)/))[1];
  const url = `ws://127.0.0.1:${port}`;
  const runtime = cli(['serve', '--connect', url, '--name', 'bench', '--allowed-dirs', dir, '--allowed-file-types', '.dcm']);
  await runtime.waitFor(/registered with the relay/);
  const link = await connectWs(url);
  const rc = await RelayClient.attach(link, { target: 'bench', token: mintClientToken(TOKEN, { sub: 'bench' }) });
  if (!rc.session) throw new Error('runtime not connected');
  const peer = new RpcPeer(rc.session);
  await peer.ready;
  await dicom.ready();
  await floor(bytes.length);
  const writer = startWriter(bytes);
  const call = (m: string, args: unknown[], timeoutMs?: number) => peer.call(m, args, timeoutMs ? { timeoutMs } : {});
  let anonymized = true;
  try {
    // ---- e2e, one stream
    const d1 = path.join(dir, 'single');
    fs.mkdirSync(d1);
    const id = (await call('initScannerStream', [d1, 'vol_{TR:05d}.dcm', 0, true, 0])) as number;
    const e2e: number[] = [];
    const warm = 10;
    for (let i = 0; i < N + warm; i++) {
      const got = call('getImageData', [id, i, 5], 15_000).then((b) => {
        const ds = dicom.parseDicom(b as Uint8Array);
        const t = now();
        if (/Doe|greenEyes/i.test(String(ds.get('PatientName') ?? ''))) anonymized = false;
        return t;
      });
      await sleep(15); // the call waits on the runtime before the file exists, as in a run
      const stamp = writer.write(path.join(d1, `vol_${String(i).padStart(5, '0')}.dcm`));
      const [t, s] = await Promise.all([got, stamp]);
      if (i >= warm) e2e.push(t - s);
    }
    report('remote e2e: file whole -> parsed anonymized dataset in experiment (relay+runtime, ws)', e2e, { p50: 3, p99: 10 }, `rt-cloud ~71 ms; ${anonymized ? 'anonymized' : 'NOT anonymized'}`);

    // ---- the same at scanner pace: one file per TR 0.5 s, every process idle in between (the
    // demo's situation; the loop above keeps them busy, with warm caches and awake CPUs)
    const paced: number[] = [];
    for (let i = N + warm; i < N + warm + PACED; i++) {
      const got = call('getImageData', [id, i, 5], 15_000).then((b) => (dicom.parseDicom(b as Uint8Array), now()));
      await sleep(TR * 1000);
      const stamp = writer.write(path.join(d1, `vol_${String(i).padStart(5, '0')}.dcm`));
      const [t, s] = await Promise.all([got, stamp]);
      paced.push(t - s);
    }
    if (paced.length) report(`remote e2e at TR ${TR} s, one stream (processes idle between volumes)`, paced, { p50: 3, p99: 10 });

    // ---- getFile
    const f = path.join(d1, 'vol_00000.dcm');
    const gf: number[] = [];
    // the runtime's PHI policy (default: anonymize) sends the file anonymized: every reply the same size
    let size = -1;
    for (let i = 0; i < 320; i++) {
      const t0 = performance.now();
      const b = (await call('getFile', [f])) as Uint8Array;
      if (i >= 20) gf.push(performance.now() - t0);
      if (size < 0) {
        size = b.length;
        if (dicom.parseDicom(b).getString('PatientName') === dicom.parseDicom(bytes).getString('PatientName')) throw new Error('getFile: not anonymized');
      } else if (b.length !== size) throw new Error('getFile size');
    }
    report(`remote getFile ${(size / 1024).toFixed(0)} KiB anonymized (relay+runtime, ws)`, gf, { p50: 1 }, 'rt-cloud ~10.8 ms');

    // ---- ping
    const pg: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const t0 = performance.now();
      await call('ping', []);
      if (i >= 200) pg.push(performance.now() - t0);
    }
    report('remote ping (relay+runtime, ws)', pg, { p50: 0.2 }, 'rt-cloud ~0.64 ms');
    await floor(bytes.length); // again, after the cases above: the machine's load drifts

    // ---- 16 concurrent streams at TR 0.5 s: scanners out of step (staggered), then in step
    for (const mode of ['staggered', 'in step'] as const) {
      const ids: number[] = [];
      for (let k = 0; k < STREAMS; k++) {
        const dk = path.join(dir, `${mode === 'staggered' ? 's' : 't'}${k}`);
        fs.mkdirSync(dk);
        ids.push((await call('initScannerStream', [dk, 'vol_{TR:05d}.dcm', 0, true, 0])) as number);
      }
      const lat: number[] = [];
      const t0 = now() + 200;
      const trs = mode === 'staggered' ? STREAM_TRS : STREAM_TRS / 2;
      await Promise.all(
        ids.map(async (sid, k) => {
          const dk = path.join(dir, `${mode === 'staggered' ? 's' : 't'}${k}`);
          for (let i = 0; i < trs; i++) {
            const got = call('getImageData', [sid, i, 10], 20_000).then((b) => (dicom.parseDicom(b as Uint8Array), now()));
            const due = t0 + i * TR * 1000 + (mode === 'staggered' ? (k * TR * 1000) / STREAMS : 0);
            await sleep(Math.max(0, due - now()));
            const stamp = writer.write(path.join(dk, `vol_${String(i).padStart(5, '0')}.dcm`));
            const [t, s] = await Promise.all([got, stamp]);
            if (i > 0) lat.push(t - s);
          }
        }),
      );
      if (mode === 'staggered') report(`remote ${STREAMS} concurrent streams at TR ${TR} s: file whole -> parsed anonymized dataset`, lat, { p99: 15 }, 'scanners staggered across the TR');
      else report(`remote ${STREAMS} streams at TR ${TR} s, all 16 files written at the same instant`, lat, undefined, 'worst case: 16 x 457 KB in one burst through one relay');
    }
  } finally {
    await writer.stop();
    peer.close('done');
    rc.close();
    runtime.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');
    await sleep(200);
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  }
}

await main();
