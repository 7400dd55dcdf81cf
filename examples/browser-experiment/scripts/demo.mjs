// `rtfmri demo --browser`: the demo session for the browser experiment. Starts a relay and a
// control-room runtime (the real `rtfmri relay` / `rtfmri serve`, as child processes), serves this
// page, prints its URL, and replays a synthetic EPI run into the scanner folder once the page has
// been opened. Runs until Ctrl-C. Also runnable as `node scripts/demo.mjs [--tr S] [--volumes N]`.
//
// WebRTC on one machine: Chromium gathers no candidates on loopback, so the runtime offers direct
// channels on this machine's first non-loopback IPv4 address (os.networkInterfaces; override with
// RTFMRI_WEBRTC_BIND), which a browser on the same machine reaches. When it cannot (no such
// interface, node-datachannel not loadable) the demo says why in the terminal and the page shows it,
// and the page uses the relay. A page whose offer fails says why on the page; the terminal reports
// what the runtime saw.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { METHOD_SCOPES, mintClientToken } from '@rtfmri/relay';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const dist = join(root, 'dist');
const cli = resolve(root, '../../packages/cli/bin/rtfmri.js');
const transportPkg = resolve(root, '../../packages/transport/package.json');

/**
 * Where the runtime can offer browsers on this machine a direct WebRTC channel:
 * { address, source } or { why } (a sentence). `interfaces` and `load` are os.networkInterfaces()
 * and loading node-datachannel (the runtime's WebRTC library), replaceable in tests.
 */
export function webrtcPlan({ env = process.env, interfaces = networkInterfaces(), load = () => createRequire(transportPkg)('node-datachannel') } = {}) {
  try {
    load();
  } catch (e) {
    return { why: `the runtime's WebRTC library (node-datachannel) cannot be loaded here (${String(e?.message ?? e).split('\n')[0]})` };
  }
  if (env.RTFMRI_WEBRTC_BIND) return { address: env.RTFMRI_WEBRTC_BIND, source: 'RTFMRI_WEBRTC_BIND' };
  for (const [name, list] of Object.entries(interfaces)) {
    for (const a of list ?? []) if ((a.family === 'IPv4' || a.family === 4) && !a.internal) return { address: a.address, source: `network interface ${name}` };
  }
  return { why: 'this machine has no network interface besides loopback, and browsers gather no WebRTC candidates on loopback alone (connect it to a network, or set RTFMRI_WEBRTC_BIND)' };
}

/** A scanner clock reading `offsetSec` from now, as DICOM AcquisitionDate / AcquisitionTime (local time, as scanners write them). */
export function scannerClock(offsetSec = 0) {
  const d = new Date(Date.now() + offsetSec * 1000);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return { date: `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`, startTime: `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000` };
}

function child(args, env, label, out, verbose, onLine) {
  const c = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  const onData = (buf) => {
    for (const l of String(buf).split('\n').filter(Boolean)) {
      lines.push(l);
      if (verbose) out(`  [${label}] ${l}`);
      onLine?.(l);
      for (const w of [...waiters]) {
        const m = l.match(w.re);
        if (m) waiters.splice(waiters.indexOf(w), 1), w.resolve(m);
      }
    }
  };
  c.stdout.on('data', onData);
  c.stderr.on('data', onData);
  const waitFor = (re, ms) =>
    new Promise((res, rej) => {
      const seen = lines.map((l) => l.match(re)).find(Boolean);
      if (seen) return res(seen);
      const t = setTimeout(() => rej(new Error(`${label} did not start within ${ms} ms:\n${lines.join('\n')}`)), ms);
      c.once('exit', (code) => rej(new Error(`${label} exited with ${code}:\n${lines.join('\n')}`)));
      waiters.push({ re, resolve: (m) => (clearTimeout(t), res(m)) });
    });
  return { child: c, waitFor };
}

function serveStatic(host, port, onPage) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname.replace(/\/$/, '/index.html');
    const file = join(dist, path);
    if (!file.startsWith(dist) || !existsSync(file)) return res.writeHead(404).end();
    if (path === '/app.js') onPage();
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  return new Promise((r, j) => server.once('error', j).listen(port, host, () => r(server)));
}

/**
 * The demo's analysis, as an experiment script would run it (Node SDK, through the relay): reads each
 * volume with getImageData, takes its ROI mean and percent signal change (RoiTimeCourse), and shows
 * them on the experimenter's page with rt-cloud's web display calls (sendConfig, sendRunStatus,
 * plotDataPoint, userLog, sendUploadStatus). Its failures are printed, never fatal to the demo.
 */
async function runAnalysis({ relayUrl, token, folder, volumes, tr, roi, signal, out }) {
  const { DataInterface, WebDisplayInterface, RoiTimeCourse } = await import('@rtfmri/sdk');
  const { mosaicToVolume } = await import('@rtfmri/dicom-wasm');
  const di = new DataInterface({ dataRemote: true, url: relayUrl, name: 'demo-scanner', clientId: 'demo-analysis', token: mintClientToken(token, { sub: 'demo-analysis', runtimes: ['demo-scanner'], methods: 'all', ttlSeconds: 6 * 3600 }) });
  try {
    await di.waitForRuntime(15);
    const web = new WebDisplayInterface(di);
    await web.clearAllPlots();
    await web.sendConfig({ title: 'rtfmri browser demo', runNum: [1], volumes, tr, roi: `box:${roi.slice0},${roi.slice1},${roi.row0},${roi.row1},${roi.col0},${roi.col1}`, baselineVolumes: 10 }, 'built-in (rtfmri demo --browser)');
    await web.sendRunStatus('Run 1: waiting for volumes');
    const stream = await di.initScannerStream(folder, 'epi_{TR:04d}.dcm', 0);
    // No detrending: a causal linear fit over the run so far absorbs a block's step (the synthetic run has no drift).
    const tc = new RoiTimeCourse({ baselineVolumes: 10, detrendOrder: null });
    for (let k = 0; k < volumes && !signal?.aborted; k++) {
      const v = mosaicToVolume(await di.getImageData(stream, k, Math.max(5, tr * 4)));
      let sum = 0, n = 0;
      for (let s2 = roi.slice0; s2 < roi.slice1; s2++) for (let r = roi.row0; r < roi.row1; r++) for (let c = roi.col0; c < roi.col1; c++) (sum += v.data[(s2 * v.rows + r) * v.cols + c]), n++;
      const p = tc.push(sum / n);
      // rt-cloud plots from run 1; a TR without a baseline yet gets no point.
      if (Number.isFinite(p.psc)) await web.plotDataPoint(1, k, Math.round(p.psc * 1000) / 1000);
      await web.sendRunStatus(`Run 1: volume ${k + 1} of ${volumes}`);
      if (Number.isFinite(p.psc)) await web.userLog(`TR ${k}: ROI ${p.raw.toFixed(1)}, ${p.psc.toFixed(2)} % signal change`);
    }
    if (!signal?.aborted) {
      await web.sendRunStatus('Run 1 done');
      await web.sendUploadStatus(`${volumes} volumes analysed (nothing uploaded: a demo)`);
      await web.sendUploadStatus('------upload complete------');
    }
  } catch (e) {
    if (!signal?.aborted) out(`  the demo's analysis stopped: ${e?.message ?? e}`);
  } finally {
    await di.close().catch(() => {});
  }
}

/**
 * Runs the browser demo until `signal` aborts. `out` gets the lines to print (the page URL first).
 * Returns what was replayed.
 */
export async function runBrowserDemo({ tr = 1, volumes = 60, host = '127.0.0.1', port = 0, transport = 'auto', verbose = false, out = console.log, signal } = {}) {
  if (!existsSync(join(dist, 'app.js'))) throw new Error(`the page is not built (${dist}): run 'npx turbo run build'`);
  const { ready } = await import('@rtfmri/dicom-wasm');
  const { syntheticEpiSeries, syntheticRoi } = await import('@rtfmri/dicom-wasm/synthetic');
  const { replayFiles } = await import('@rtfmri/runtime');
  await ready();
  const token = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  const folder = mkdtempSync(join(tmpdir(), 'rtfmri-browser-demo-'));
  const kids = [];
  let server;
  try {
    const env = { RTFMRI_TOKEN: token };
    const relay = child(['relay', '--port', '0', '--host', host], env, 'relay', out, verbose);
    kids.push(relay.child);
    const relayPort = (await relay.waitFor(/\(port (\d+)\)/, 15_000))[1];
    const relayUrl = `ws://${host}:${relayPort}`;
    const plan = webrtcPlan();
    // What the runtime saw of the page's channel, said in the terminal too.
    const onRuntimeLine = (l) => {
      if (/WebRTC channel open/.test(l)) out('  the page opened a direct WebRTC channel to the runtime');
      const m = /WebRTC channel did not open \((.*)\)/.exec(l);
      if (m) out(`  the page's WebRTC channel did not open (${m[1]}): it uses the relay (the page says why)`);
    };
    const webrtcArgs = plan.address ? ['--webrtc-bind', plan.address] : ['--no-webrtc'];
    const runtime = child(['serve', '--connect', relayUrl, '--name', 'demo-scanner', '--allowed-dirs', folder, '--allowed-file-types', '.dcm', ...webrtcArgs], env, 'runtime', out, verbose, onRuntimeLine);
    kids.push(runtime.child);
    await runtime.waitFor(/registered with the relay/, 15_000);
    let opened;
    const pageOpened = new Promise((r) => (opened = r));
    server = await serveStatic(host, port, () => opened());
    // The page streams volumes and follows the analysis' web display (rt-cloud's WebDisplayInterface).
    const pageToken = mintClientToken(token, { sub: 'demo-page', runtimes: ['demo-scanner'], methods: [...METHOD_SCOPES.stream, ...METHOD_SCOPES.display.filter((m) => m !== 'ping')], ttlSeconds: 6 * 3600 });
    // The demo run's own ROI (the box its block-design signal is in), so the plot shows that signal.
    const b = syntheticRoi();
    const pageTransport = plan.address || transport !== 'auto' ? transport : 'websocket';
    const q = new URLSearchParams({
      relay: relayUrl, token: pageToken, name: 'demo-scanner', dir: folder, pattern: 'epi_{TR:04d}.dcm', transport: pageTransport, n: String(volumes), timeout: String(Math.max(5, tr * 4)),
      roi: `box:${b.slice0},${b.slice1},${b.row0},${b.row1},${b.col0},${b.col1}`,
      ...(plan.why ? { why: plan.why } : {}),
    });
    const url = `http://${host}:${server.address().port}/index.html#${q}`;
    out(`rtfmri demo --browser: open this page (the run of ${volumes} volumes, TR ${tr} s, starts once it is open):`);
    out('');
    out(`  ${url}`);
    out('');
    out(`  relay ${relayUrl} · runtime 'demo-scanner' · scanner folder ${folder}`);
    out(plan.address
      ? `  WebRTC: the runtime offers direct data channels on ${plan.address} (${plan.source}); the relay carries only the signalling`
      : `  WebRTC: not offered, ${plan.why}. The page uses the relay (WebSocket) and shows this reason.`);
    out('  Ctrl-C to stop.');
    const aborted = new Promise((r) => (signal?.aborted ? r() : signal?.addEventListener('abort', () => r(), { once: true })));
    await Promise.race([pageOpened, aborted]);
    if (signal?.aborted) return { volumes: 0, url, webrtc: plan };
    // Acquisition times on this machine's clock: volume k began one TR before its file is written,
    // so the page's "acquisition start -> on screen" and its late marks mean what they say.
    // (Generating the run takes a moment: the first write waits the rest of startDelay.)
    const startDelay = 1.5;
    const t0 = Date.now();
    const series = syntheticEpiSeries({ volumes, trMs: Math.round(tr * 1000), ...scannerClock(startDelay - tr) });
    const spent = (Date.now() - t0) / 1000;
    const sources = series.map((data, index) => ({ index, name: `epi_${String(index).padStart(4, '0')}.dcm`, data }));
    out('  page opened: replaying the run');
    const analysis = runAnalysis({ relayUrl, token, folder, volumes, tr, roi: b, signal, out });
    const r = await replayFiles(sources, folder, { tr, startDelay: Math.max(0, startDelay - spent), signal });
    await analysis;
    if (!r.aborted) out(`  run complete (${r.files.length} volumes); the page keeps its plot. Ctrl-C to stop.`);
    await aborted;
    return { volumes: r.files.length, url, webrtc: plan };
  } finally {
    server?.close();
    for (const k of kids) k.kill('SIGTERM');
    rmSync(folder, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name, d) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : d;
  };
  const ac = new AbortController();
  process.on('SIGINT', () => ac.abort());
  process.on('SIGTERM', () => ac.abort());
  await runBrowserDemo({ tr: Number(arg('tr', 1)), volumes: Number(arg('volumes', 60)), port: Number(arg('port', 0)), transport: arg('transport', 'auto'), verbose: process.argv.includes('--verbose'), signal: ac.signal });
}
