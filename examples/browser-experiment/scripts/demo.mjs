// `rtfmri demo --browser`: the demo session for the browser experiment. Starts a relay and a
// control-room runtime (the real `rtfmri relay` / `rtfmri serve`, as child processes), serves this
// page, prints its URL, and replays a synthetic EPI run into the scanner folder once the page has
// been opened. Runs until Ctrl-C. Also runnable as `node scripts/demo.mjs [--tr S] [--volumes N]`.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mintClientToken } from '@rtfmri/relay';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const dist = join(root, 'dist');
const cli = resolve(root, '../../packages/cli/bin/rtfmri.js');

function child(args, env, label, out, verbose) {
  const c = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  const onData = (buf) => {
    for (const l of String(buf).split('\n').filter(Boolean)) {
      lines.push(l);
      if (verbose) out(`  [${label}] ${l}`);
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
 * Runs the browser demo until `signal` aborts. `out` gets the lines to print (the page URL first).
 * Returns what was replayed.
 */
export async function runBrowserDemo({ tr = 1, volumes = 60, host = '127.0.0.1', port = 0, transport = 'auto', verbose = false, out = console.log, signal } = {}) {
  if (!existsSync(join(dist, 'app.js'))) throw new Error(`the page is not built (${dist}): run 'npx turbo run build'`);
  const { ready } = await import('@rtfmri/dicom-wasm');
  const { syntheticEpiSeries } = await import('@rtfmri/dicom-wasm/synthetic');
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
    const runtime = child(['serve', '--connect', relayUrl, '--name', 'demo-scanner', '--allowed-dirs', folder, '--allowed-file-types', '.dcm'], env, 'runtime', out, verbose);
    kids.push(runtime.child);
    await runtime.waitFor(/registered with the relay/, 15_000);
    let opened;
    const pageOpened = new Promise((r) => (opened = r));
    server = await serveStatic(host, port, () => opened());
    const pageToken = mintClientToken(token, { sub: 'demo-page', runtimes: ['demo-scanner'], methods: 'stream', ttlSeconds: 6 * 3600 });
    const q = new URLSearchParams({ relay: relayUrl, token: pageToken, name: 'demo-scanner', dir: folder, pattern: 'epi_{TR:04d}.dcm', transport, n: String(volumes), timeout: String(Math.max(5, tr * 4)) });
    const url = `http://${host}:${server.address().port}/index.html#${q}`;
    out(`rtfmri demo --browser: open this page (the run of ${volumes} volumes, TR ${tr} s, starts once it is open):`);
    out('');
    out(`  ${url}`);
    out('');
    out(`  relay ${relayUrl} · runtime 'demo-scanner' · scanner folder ${folder}`);
    out('  Ctrl-C to stop.');
    const aborted = new Promise((r) => (signal?.aborted ? r() : signal?.addEventListener('abort', () => r(), { once: true })));
    await Promise.race([pageOpened, aborted]);
    if (signal?.aborted) return { volumes: 0, url };
    const series = syntheticEpiSeries({ volumes, trMs: Math.round(tr * 1000) });
    const sources = series.map((data, index) => ({ index, name: `epi_${String(index).padStart(4, '0')}.dcm`, data }));
    out('  page opened: replaying the run');
    const r = await replayFiles(sources, folder, { tr, startDelay: 1.5, signal });
    if (!r.aborted) out(`  run complete (${r.files.length} volumes); the page keeps its plot. Ctrl-C to stop.`);
    await aborted;
    return { volumes: r.files.length, url };
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
