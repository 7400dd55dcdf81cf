// The demo: one command, nothing else running. Starts a relay and a control-room runtime (two
// child processes, the real `rtfmri relay` and `rtfmri serve`), replays an EPI run into a fresh
// folder the way a scanner writes it, and runs the neurofeedback experiment through the relay:
// per TR the volume index, the ROI signal and the file-to-experiment latency; then a summary.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ready } from '@rtfmri/dicom-wasm';
import { syntheticEpiSeries, blockDesign } from '@rtfmri/dicom-wasm/synthetic';
import { findSeries, replayFiles, type ReplayEvent } from '@rtfmri/runtime';
import { DataInterface, mintClientToken } from '@rtfmri/sdk';
import { bar, percentile, runNeurofeedback, type VolumeResult } from './neurofeedback.js';

export interface DemoOptions {
  /** Seconds per volume (default 0.5). */
  tr?: number;
  /** Volumes to replay (default 40 synthetic; the sample run has 11). */
  volumes?: number;
  /** 'auto' (default): the rt-cloud sample run when ../shared/data/rtcloud-sample exists, else synthetic. */
  data?: 'auto' | 'synthetic' | 'sample';
  /** Write files to a temp name and rename them in (default: in place, in chunks). */
  rename?: boolean;
  out?: (line: string) => void;
  /** Extra diagnostics (the children's logs). */
  verbose?: boolean;
}

export interface DemoSummary {
  volumes: number;
  latenciesMs: number[];
  p50: number;
  p99: number;
  data: 'synthetic' | 'sample';
  /** Synthetic run only: correlation of the ROI feedback with the block design. */
  designCorrelation?: number;
}

const here = dirname(fileURLToPath(import.meta.url));

/** ../shared/data/rtcloud-sample next to the repository, if present. */
export function sampleDir(): string | undefined {
  for (const up of ['../../../../shared/data/rtcloud-sample', '../../../shared/data/rtcloud-sample']) {
    const p = resolve(here, up);
    if (existsSync(join(p, '001_000013_000001.dcm'))) return p;
  }
  return undefined;
}

function cliBin(): string {
  // In the repository: packages/cli/bin next to examples/ (from src/ or dist/ alike).
  const inRepo = resolve(here, '../../../packages/cli/bin/rtfmri.js');
  if (existsSync(inRepo)) return inRepo;
  // Installed: the CLI package's bin.
  const pkg = fileURLToPath(import.meta.resolve('@rtfmri/cli/package.json'));
  return resolve(dirname(pkg), 'bin', 'rtfmri.js');
}

function start(args: string[], env: NodeJS.ProcessEnv, label: string, verbose: boolean, out: (l: string) => void): { child: ChildProcess; lines: string[]; waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, [cliBin(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  const onData = (buf: Buffer) => {
    for (const l of buf.toString().split('\n').filter(Boolean)) {
      lines.push(l);
      if (verbose) out(`  [${label}] ${l}`);
      for (const w of [...waiters]) {
        const m = l.match(w.re);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    lines,
    waitFor(re, ms) {
      const seen = lines.map((l) => l.match(re)).find(Boolean);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${label} did not start within ${ms} ms:\n${lines.join('\n')}`)), ms);
        child.once('exit', (code) => {
          clearTimeout(t);
          rej(new Error(`${label} exited with ${code}:\n${lines.join('\n')}`));
        });
        waiters.push({
          re,
          resolve: (m) => {
            clearTimeout(t);
            res(m);
          },
        });
      });
    },
  };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      r();
    });
    child.kill('SIGTERM');
  });
}

function correlation(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  const ma = a.slice(0, n).reduce((x, y) => x + y, 0) / n;
  const mb = b.slice(0, n).reduce((x, y) => x + y, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoSummary> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const tr = opts.tr ?? 0.5;
  const sample = opts.data === 'synthetic' ? undefined : sampleDir();
  if (opts.data === 'sample' && !sample) throw new Error('the rt-cloud sample run (../shared/data/rtcloud-sample) is not here; use --data synthetic');
  const kind: 'synthetic' | 'sample' = sample ? 'sample' : 'synthetic';
  const token = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  const folder = mkdtempSync(join(tmpdir(), 'rtfmri-demo-'));
  const children: ChildProcess[] = [];
  let di: DataInterface | undefined;
  try {
    // The run: files prepared up front so writing them costs only the write.
    await ready();
    let pattern: string;
    let sources: { index: number; name: string; data: Uint8Array | (() => Promise<Uint8Array>) }[];
    if (sample) {
      const s = await findSeries(sample);
      pattern = s.pattern;
      const { readFile } = await import('node:fs/promises');
      // rt-cloud's sample numbers volumes 1..10 (000000 is a copy of the last one): start at 1.
      const files = s.files.filter((f) => f.index >= 1).slice(0, opts.volumes ?? s.files.length);
      sources = await Promise.all(files.map(async (f) => ({ index: f.index, name: f.name, data: await readFile(f.path) })));
    } else {
      const n = opts.volumes ?? 40;
      pattern = 'epi_{TR:04d}.dcm';
      const series = syntheticEpiSeries({ volumes: n, trMs: Math.round(tr * 1000) });
      sources = series.map((data, i) => ({ index: i, name: `epi_${String(i).padStart(4, '0')}.dcm`, data }));
    }
    const count = sources.length;
    const first = sources[0]!.index;
    out(`rtfmri demo: ${count} volumes (${kind === 'sample' ? `rt-cloud sample run, ${sample}` : 'synthetic EPI run with a block-design signal in an ROI'}), TR ${tr} s`);
    out(`  scanner folder: ${folder}`);

    const env = { RTFMRI_TOKEN: token };
    const relay = start(['relay', '--port', '0', '--host', '127.0.0.1'], env, 'relay', !!opts.verbose, out);
    children.push(relay.child);
    const port = (await relay.waitFor(/\(port (\d+)\)/, 15_000))[1];
    const url = `ws://127.0.0.1:${port}`;
    out(`  relay:   ${url} (pid ${relay.child.pid})`);
    const runtime = start(['serve', '--connect', url, '--name', 'demo-scanner', '--allowed-dirs', folder, '--allowed-file-types', '.dcm'], env, 'runtime', !!opts.verbose, out);
    children.push(runtime.child);
    await runtime.waitFor(/registered with the relay/, 15_000);
    out(`  runtime: 'demo-scanner' (pid ${runtime.child.pid}) dialed out to the relay`);

    // The experiment holds a client token minted from the site secret, never the secret itself.
    di = new DataInterface({ dataRemote: true, url, token: mintClientToken(token, { sub: 'neurofeedback', runtimes: ['demo-scanner'] }), name: 'demo-scanner' });
    await di.waitForRuntime(15);
    out(`  experiment: connected through the relay; streaming ${pattern}`);
    out('');
    out('   vol  inst   ROI mean  feedback          latency');

    // A runtime can hand a volume over before the writer's close() has even returned: latency is
    // measured from the moment the file became whole (just before its last write), and a line is
    // printed once both ends are known.
    const written = new Map<number, { p: Promise<ReplayEvent>; resolve: (e: ReplayEvent) => void }>();
    const writtenEvent = (i: number) => {
      let w = written.get(i);
      if (!w) {
        let resolve!: (e: ReplayEvent) => void;
        const p = new Promise<ReplayEvent>((r) => (resolve = r));
        w = { p, resolve };
        written.set(i, w);
      }
      return w;
    };
    let printing = Promise.resolve();
    const latencies: number[] = [];
    const ac = new AbortController();
    // Blocking writes: the scanner shares this process with the experiment, and an async write's
    // trip through the thread pool would be counted as pipeline latency.
    const replay = replayFiles(sources, folder, { tr, rename: opts.rename, chunks: 4, writeFraction: 0.2, startDelay: 0.3, signal: ac.signal, syncWrites: true, onFile: (e) => writtenEvent(e.index).resolve(e) });
    replay.catch(() => {});
    let results: VolumeResult[];
    try {
      results = await runNeurofeedback({
        di,
        imgDir: folder,
        filePattern: pattern,
        volumes: count,
        firstIndex: first,
        timeout: tr * 4 + 10,
        baselineVolumes: kind === 'sample' ? 3 : 5,
        onVolume: (r) => {
          printing = printing.then(async () => {
            const c = await writtenEvent(r.index).p;
            const lat = r.receivedAt - c.lastWriteAt;
            latencies.push(lat);
            const fb = Number.isNaN(r.feedback) ? '' : `${r.feedback >= 0 ? '+' : ''}${r.feedback.toFixed(2)}%`;
            out(`  ${String(r.index).padStart(4)}  ${String(r.instanceNumber ?? '-').padStart(4)}  ${r.roiMean.toFixed(1).padStart(9)}  ${fb.padStart(7)} ${bar(r.feedback).padEnd(10)} ${lat.toFixed(2).padStart(7)} ms`);
          });
        },
      });
    } finally {
      ac.abort();
    }
    await replay;
    await printing;
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    out('');
    out(`latency, file complete on disk -> parsed, anonymized dataset in the experiment (runtime -> relay -> experiment, ${latencies.length} volumes):`);
    out(`  p50 ${p50.toFixed(2)} ms   p90 ${percentile(latencies, 90).toFixed(2)} ms   p99 ${p99.toFixed(2)} ms   max ${Math.max(...latencies).toFixed(2)} ms   min ${Math.min(...latencies).toFixed(2)} ms`);
    if (latencies.length > 3) {
      // The first volumes pay one-time costs in all three processes (JIT, the first anonymize and
      // parse, fresh socket buffers); benchmarks discard them as warm-up, a run cannot.
      const warm = latencies.slice(2);
      out(`  without the first 2 volumes (cold start): p50 ${percentile(warm, 50).toFixed(2)} ms   p90 ${percentile(warm, 90).toFixed(2)} ms   max ${Math.max(...warm).toFixed(2)} ms`);
    }
    let designCorrelation: number | undefined;
    if (kind === 'synthetic') {
      const design = results.map((r) => blockDesign(r.index));
      designCorrelation = correlation(results.map((r) => r.roiMean), design);
      out(`  ROI signal vs block design: r = ${designCorrelation.toFixed(3)}`);
    }
    const anonymized = results.every((r) => !/Doe|greenEyes/i.test(String(r.dataset.get('PatientName') ?? '')));
    out(`  PatientName in every received volume anonymized: ${anonymized ? 'yes' : 'NO'}`);
    return { volumes: results.length, latenciesMs: latencies, p50, p99, data: kind, designCorrelation };
  } finally {
    await di?.close().catch(() => {});
    await Promise.all(children.map(stop));
    rmSync(folder, { recursive: true, force: true });
  }
}
