// Browser harness, run inside a network namespace made by the caller (see netns.mjs): a relay, a
// static server for dist/, the runtime as a child process, a replayed synthetic EPI run, and
// Debian's Chromium driven by playwright-core. Prints one JSON line per scenario and a final
// {"done":true}. argv[2]: JSON { scenarios: [...], n, tr, out }.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { replayFiles, fillPattern, nowMs } from '@rtfmri/runtime';
import { mintClientToken, startRelayServer, sharedToken } from '@rtfmri/relay';
import { encapsulated, writeDicom, parseDicom, mosaicToVolume, ready as dicomReady } from '@rtfmri/dicom-wasm';
import { syntheticEpiSeries, syntheticEpiElements, syntheticRoi } from '@rtfmri/dicom-wasm/synthetic';
import { encodeNifti, mosaicToNii, niftiImage } from '@rtfmri/sdk';
import { runBrowserDemo, scannerClock } from '../../scripts/demo.mjs';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', '..', 'dist');
const cfg = { scenarios: ['webrtc'], n: 8, tr: 0.25, out: join(here, '..', '..', 'test-output'), ...JSON.parse(process.argv[2] ?? '{}') };
const TOKEN = 'browser-test-token';
// Pages hold short-lived client tokens, never the site secret: the experimenter's page (which also
// lists and reads files) a read-only one, the minimal participant page a stream-only one.
const READ_TOKEN = mintClientToken(TOKEN, { sub: 'page', runtimes: ['scanner1'], methods: 'read', ttlSeconds: 3600 });
const PAGE_TOKEN = mintClientToken(TOKEN, { sub: 'page', runtimes: ['scanner1'], methods: 'stream', ttlSeconds: 3600 });
// a page that uploads (the minimal page's putFile check)
const WRITE_TOKEN = mintClientToken(TOKEN, { sub: 'uploader', runtimes: ['scanner1'], methods: 'all', ttlSeconds: 3600 });
const NAME = 'scanner1';
const PATTERN = 'vol_{TR:03d}.dcm';
// The veth address exists only inside this namespace (netns.mjs made it).
const BIND = process.env.RTFMRI_TEST_ADDR ?? '10.77.0.1';

const BASE_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
export const CHROMIUM_ARGS = [...BASE_ARGS, '--disable-features=WebRtcHideLocalIpsWithMdns'];

const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const work = mkdtempSync(join(tmpdir(), 'rtfmri-browser-'));
const children = new Set();
let relay, http, browsers = [], lastPage;
/** Bytes of one volume as the pages receive it (anonymized), from the bench scenario; the floor sends as many. */
let volumeBytes = 300078;
/** WebRTC channels the current runtime process has open (from its log). */
let runtimeChannels = 0;

const fixtures = join(work, 'fixtures');

function serveStatic() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.wasm': 'application/wasm' };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname.replace(/\/$/, '/index.html');
    // Test files (masks) under /fixtures/, the page under /.
    const base = path.startsWith('/fixtures/') ? fixtures : dist;
    const file = join(base, path.startsWith('/fixtures/') ? path.slice('/fixtures'.length) : path);
    if (!file.startsWith(base) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cache-control': 'no-store',
    });
    res.end(readFileSync(file));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

const CLI = join(here, '..', '..', '..', '..', 'packages', 'cli', 'bin', 'rtfmri.js');

/** The control-room runtime: the real `rtfmri serve`, as its own process (so a scenario can kill it). */
function startRuntime() {
  const args = ['serve', '--connect', relay.url, '--name', NAME, '--allowed-dirs', work, '--allowed-file-types', '.dcm', '--webrtc-bind', BIND];
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RTFMRI_TOKEN: TOKEN },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  runtimeChannels = 0;
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      // Its log says when a page's WebRTC channel opens and closes.
      for (const line of String(d).split('\n')) {
        if (process.env.RTFMRI_DEBUG && line) process.stderr.write(`runtime: ${line}\n`);
        if (/WebRTC channel open/.test(line)) runtimeChannels++;
        if (/WebRTC channel closed/.test(line)) runtimeChannels--;
      }
      if (buf.includes('registered with the relay')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`runtime exited (${code}) before it was ready:\n${buf}`)));
  });
}

async function launch(extraArgs = [], base = CHROMIUM_ARGS) {
  const b = await chromium.launch({ executablePath: process.env.RTFMRI_CHROMIUM ?? '/usr/bin/chromium', args: [...base, ...extraArgs] });
  browsers.push(b);
  return b;
}

async function openPage(browser, scanDir, transport, n, noWebRtc = false, extra = {}) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
  // WebRTC switched off in this browser (as a privacy setting or extension does): no RTCPeerConnection.
  if (noWebRtc) await page.addInitScript(() => { delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection; });
  const errors = [];
  lastPage = { page, errors };
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  // Late after a minute here (the default, two TRs, would depend on this machine's load).
  const q = new URLSearchParams({ relay: relay.url, token: READ_TOKEN, name: NAME, dir: scanDir, pattern: PATTERN, transport, n: String(n), timeout: '2', roi: 'synthetic', lateAfter: '60000', ...extra });
  await page.goto(`http://127.0.0.1:${http.address().port}/index.html?${q}`);
  await page.waitForFunction(() => window.rtfmri && (window.rtfmri.state === 'live' || window.rtfmri.state === 'error'), null, { timeout: 20_000 });
  return { page, errors };
}

/** Page clock minus this process's clock (ms), from a bracketed read. */
async function clockOffset(page) {
  let best;
  for (let i = 0; i < 5; i++) {
    const t0 = nowMs();
    const p = await page.evaluate(() => performance.timeOrigin + performance.now());
    const t1 = nowMs();
    if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, off: p - (t0 + t1) / 2 };
  }
  return best.off;
}

const JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';

/** The synthetic run with its mosaics JPEG-LS compressed (CharLS from @cornerstonejs/codec-charls, in Node). */
async function jpegLsSeries(n) {
  const require = createRequire(join(here, '..', '..', 'package.json'));
  const charls = await require('@cornerstonejs/codec-charls/wasmjs')({ locateFile: () => require.resolve('@cornerstonejs/codec-charls/wasm') });
  const out = [];
  for (let i = 0; i < n; i++) {
    const els = syntheticEpiElements(i);
    const px = els.find((e) => e.tag === 'PixelData');
    const rows = els.find((e) => e.tag === 'Rows' || e.tag === 0x00280010).value;
    const cols = els.find((e) => e.tag === 'Columns' || e.tag === 0x00280011).value;
    const enc = new charls.JpegLSEncoder();
    const buf = enc.getDecodedBuffer({ width: cols, height: rows, bitsPerSample: 16, componentCount: 1, isSigned: false });
    buf.set(new Uint8Array(px.value.buffer, px.value.byteOffset, px.value.byteLength));
    enc.encode();
    const bytes = enc.getEncodedBuffer().slice();
    enc.delete();
    Object.assign(px, { vr: 'OB', value: encapsulated([bytes.length % 2 ? Uint8Array.of(...bytes, 0) : bytes]) });
    out.push(writeDicom(els, { transferSyntaxUID: JPEG_LS_LOSSLESS }));
  }
  return out;
}

/** The synthetic run with acquisition times on this machine's clock (volume k began one TR before it is written). */
const timedSeries = (n, tr, clockOffsetSec = -tr) => syntheticEpiSeries({ volumes: n, trMs: Math.round(tr * 1000), ...scannerClock(clockOffsetSec) });

function replay(scanDir, n, tr, startIndex = 0, series = timedSeries(n, tr)) {
  const sources = series.map((data, index) => ({ index, name: fillPattern(PATTERN, index), data })).slice(startIndex);
  const closed = new Map();
  // Blocking writes: the 'whole' stamp is taken right before the last write syscall, not before a
  // trip through libuv's thread pool (this process also runs the relay).
  const done = replayFiles(sources, scanDir, { tr, syncWrites: true, onFile: (ev) => closed.set(ev.index, ev.lastWriteAt ?? ev.closedAt) });
  return { closed, done };
}

async function pageSummary(page, name) {
  const s = await page.evaluate(() => {
    const c = document.getElementById('image');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] > 16) lit++;
    const r = window.rtfmri;
    return {
      state: r.state, error: r.error, frames: r.frames, decoded: r.decoded, statuses: r.statuses.map((s) => ({ connected: s.connected, link: s.link, reason: s.reason })),
      plotPoints: document.querySelectorAll('#plot circle').length, canvas: { width: c.width, height: c.height, lit },
      statusText: document.getElementById('status').textContent, linkText: document.getElementById('link').textContent,
      whyText: document.getElementById('link-why').hidden ? '' : document.getElementById('link-why').textContent,
      volumeLabel: document.getElementById('volume-index').textContent, countText: document.getElementById('count').textContent,
      lateText: document.getElementById('late-count').textContent, lateBadge: document.getElementById('late').hidden ? '' : document.getElementById('late').textContent,
      latePoints: document.querySelectorAll('#plot circle.late').length,
      axisLabels: [...document.querySelectorAll('#plot text.label')].map((t) => t.textContent),
      roi: r.roi, redraws: r.redraws, recomputes: r.recomputes, display: r.display,
    };
  });
  mkdirSync(cfg.out, { recursive: true });
  const shot = join(cfg.out, `${name}.png`);
  await page.screenshot({ path: shot });
  return { ...s, screenshot: shot };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
};

async function scenario(name) {
  const scanDir = join(work, name);
  mkdirSync(scanDir, { recursive: true });
  const n = cfg.n;
  if (name === 'webrtc' || name === 'fallback') {
    // 'fallback': Chromium may not use any UDP route, so no direct channel can open; 'auto' must fall back.
    const browser = await launch();
    // Late marks: a volume is late after 60 s here, and the last one was acquired an hour ago.
    const { page, errors } = await openPage(browser, scanDir, name === 'webrtc' ? 'webrtc' : 'auto', n, name === 'fallback');
    const series = timedSeries(n, cfg.tr);
    series[n - 1] = timedSeries(n, cfg.tr, -3600)[n - 1];
    const { done } = replay(scanDir, n, cfg.tr, 0, series);
    await done;
    await page.waitForFunction((k) => window.rtfmri.frames.length >= k || window.rtfmri.state === 'error', n, { timeout: 30_000 });
    const s = await pageSummary(page, name);
    // The rest of the API, from the page, as experiment code would call it.
    const api = await page.evaluate(async (dir) => {
      const di = window.rtfmriDi;
      const out = {};
      out.ping = typeof (await di.ping());
      out.types = await di.getAllowedFileTypes();
      out.files = (await di.listFiles(dir + '/*.dcm')).length;
      const ds = await di.getImageData(window.rtfmriStream, 2);
      out.seek = { instance: ds.getNumber('InstanceNumber'), rows: ds.getNumber('Rows'), patientName: String(ds.get('PatientName') ?? '') };
      const file = await di.getFile(dir + '/vol_001.dcm');
      out.fileBytes = file.byteLength;
      // this page's token is read-only: a write is refused, typed, before anything is sent
      try {
        await di.putFile(dir + '/uploaded_copy.dcm', new Blob([file]));
        out.putRefused = 'written';
      } catch (e) {
        out.putRefused = e.name;
      }
      try {
        await di.getFile('/etc/passwd');
      } catch (e) {
        out.refused = { name: e.name, typed: e instanceof Error && e.constructor.name, message: e.message };
      }
      return out;
    }, scanDir);
    const channelsWhileOpen = runtimeChannels;
    // Closing the page must release its channel on the runtime side.
    const closedAt = nowMs();
    await browser.close();
    while (runtimeChannels > 0 && nowMs() - closedAt < 10_000) await sleep(20);
    return { scenario: name, ...s, errors, api, channelsWhileOpen, channelsAfterClose: runtimeChannels, releasedMs: Math.round(nowMs() - closedAt) };
  }
  if (name === 'kill') {
    const browser = await launch();
    const { page, errors } = await openPage(browser, scanDir, 'auto', n, false, { view: 'slice', slice: '14' });
    const half = Math.floor(n / 2);
    const { done } = replay(scanDir, n, cfg.tr);
    await page.waitForFunction((k) => window.rtfmri.frames.length >= k, half, { timeout: 30_000 });
    const [rt] = children;
    rt.kill('SIGKILL');
    const killedAt = nowMs();
    await page.waitForFunction(() => window.rtfmri.state === 'disconnected', null, { timeout: 10_000 });
    const noticedMs = nowMs() - killedAt;
    const disconnectedShot = join(cfg.out, 'kill-disconnected.png');
    mkdirSync(cfg.out, { recursive: true });
    await page.screenshot({ path: disconnectedShot });
    const banner = await page.evaluate(() => ({ text: document.getElementById('status').textContent, banner: !document.getElementById('banner').hidden }));
    await sleep(300);
    await startRuntime();
    await done;
    await page.waitForFunction((k) => window.rtfmri.frames.length >= k || window.rtfmri.state === 'error', n, { timeout: 30_000 });
    const s = await pageSummary(page, name);
    await browser.close();
    return { scenario: name, ...s, errors, disconnected: { ...banner, noticedMs, screenshot: disconnectedShot } };
  }
  if (name === 'bench') {
    // Both links in the same run (same browser, relay and runtime), one after the other so they do
    // not compete for the two cores: a page over WebRTC, then a page through the relay.
    const browser = await launch();
    const result = { scenario: name };
    for (const transport of ['webrtc', 'websocket']) {
      const dir = join(scanDir, transport);
      mkdirSync(dir, { recursive: true });
      const { page } = await openPage(browser, dir, transport, n);
      const off = await clockOffset(page);
      const { closed, done } = replay(dir, n, cfg.tr);
      await done;
      await page.waitForFunction((k) => window.rtfmri.frames.length >= k && window.rtfmri.frames.every((f) => f.frameAt), n, { timeout: 60_000 });
      const frames = await page.evaluate(() => window.rtfmri.frames);
      // Skip the first volume: it also pays for the window setup and first-use compilation.
      const use = frames.filter((f) => f.index > 0 && closed.has(f.index));
      const drawn = use.map((f) => f.drawnAt - off - closed.get(f.index));
      const received = use.map((f) => f.receivedAt - off - closed.get(f.index));
      // Where the time goes after the bytes are in the worker: the worker's frame work (parse,
      // mosaic -> volume, ROI, window -> RGBA), the hop to the page (comlink, transferred buffer),
      // and drawing (ImageData + putImageData).
      const stage = (a, b) => pct(use.map((f) => f[b] - f[a]), 50);
      result[transport] = {
        link: frames[0]?.link, n: drawn.length, p50: pct(drawn, 50), p99: pct(drawn, 99), max: Math.max(...drawn),
        receivedP50: pct(received, 50), receivedP99: pct(received, 99), clockOffsetMs: off,
        workerP50: stage('receivedAt', 'readyAt'), hopP50: stage('readyAt', 'gotAt'), drawP50: stage('gotAt', 'drawnAt'), frameP50: stage('drawnAt', 'frameAt'), frameP99: pct(use.map((f) => f.frameAt - f.drawnAt), 99), bytes: frames[0]?.bytes,
      };
      if (frames[0]?.bytes) volumeBytes = frames[0].bytes;
      await page.close();
    }
    await browser.close();
    return result;
  }
  if (name === 'floor') {
    // The transports' own floors: a volume's bytes (as the bench's volumes arrive: anonymized) from
    // node-datachannel straight into a Chromium page over one data channel, and from a Node ws
    // server over one WebSocket (no relay, RPC, DICOM or worker), the page acking with one byte.
    const req = createRequire(join(here, '..', '..', '..', '..', 'packages', 'transport', 'package.json'));
    const ndc = (await import(req.resolve('node-datachannel'))).default;
    const browser = await launch();
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${http.address().port}/index.html?dir=`);
    const pc = new ndc.PeerConnection('floor', { iceServers: [], bindAddress: BIND, maxMessageSize: 262144 });
    let dc;
    pc.onDataChannel((d) => (dc = d));
    const answer = new Promise((res) => pc.onGatheringStateChange(() => pc.gatheringState() === 'complete' && res(pc.localDescription().sdp)));
    await page.exposeFunction('rtfmriFloorSignal', async (sdp) => (pc.setRemoteDescription(sdp, 'offer'), answer));
    const TOTAL = volumeBytes;
    await page.evaluate(async (TOTAL) => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      const dc = pc.createDataChannel('floor', { ordered: true });
      dc.binaryType = 'arraybuffer';
      let got = 0;
      dc.onmessage = (e) => {
        got += e.data.byteLength;
        if (got >= TOTAL) (got = 0), dc.send(new Uint8Array(1));
      };
      await pc.setLocalDescription();
      await new Promise((r) => (pc.iceGatheringState === 'complete' ? r() : (pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r())));
      await pc.setRemoteDescription({ type: 'answer', sdp: await window.rtfmriFloorSignal(pc.localDescription.sdp) });
      await new Promise((r) => (dc.onopen = r));
      window.rtfmriFloorPc = pc;
    }, TOTAL);
    while (!dc?.isOpen()) await sleep(10);
    const data = new Uint8Array(TOTAL).fill(7);
    const times = [];
    for (let i = 0; i < n; i++) {
      await sleep(cfg.tr * 1000);
      const t0 = nowMs();
      const acked = new Promise((r) => dc.onMessage(() => r()));
      for (let o = 0; o < TOTAL; o += 262080) dc.sendMessageBinary(data.subarray(o, Math.min(TOTAL, o + 262080)));
      await acked;
      times.push(nowMs() - t0);
    }
    dc.close();
    pc.close();
    // The same bytes over one WebSocket (loopback TCP), one message a volume.
    const { WebSocketServer } = req('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    const conn = new Promise((r) => wss.once('connection', r));
    await page.evaluate(async ({ url, TOTAL }) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      let got = 0;
      ws.onmessage = (e) => {
        got += e.data.byteLength;
        if (got >= TOTAL) (got = 0), ws.send(new Uint8Array(1));
      };
      await new Promise((r) => (ws.onopen = r));
      window.rtfmriFloorWs = ws;
    }, { url: `ws://127.0.0.1:${wss.address().port}`, TOTAL });
    const sock = await conn;
    const wsTimes = [];
    for (let i = 0; i < n; i++) {
      await sleep(cfg.tr * 1000);
      const t0 = nowMs();
      const acked = new Promise((r) => sock.once('message', () => r()));
      sock.send(data);
      await acked;
      wsTimes.push(nowMs() - t0);
    }
    sock.close();
    wss.close();
    await browser.close();
    return { scenario: name, bytes: TOTAL, webrtc: { n: times.length, p50: pct(times, 50), p99: pct(times, 99) }, websocket: { n: wsTimes.length, p50: pct(wsTimes, 50), p99: pct(wsTimes, 99) } };
  }
  if (name === 'roi') {
    // After the run: a box drawn on the mosaic (inside one slice) replaces the default ROI and the
    // time course is recomputed for every volume; changing the view redraws the last volume.
    await dicomReady();
    const browser = await launch();
    const { page, errors } = await openPage(browser, scanDir, 'auto', n, false, { roi: '' });
    const series = timedSeries(n, cfg.tr);
    const { done } = replay(scanDir, n, cfg.tr, 0, series);
    await done;
    await page.waitForFunction((k) => window.rtfmri.state === 'done' || window.rtfmri.state === 'error', n, { timeout: 30_000 });
    const before = await page.evaluate(() => window.rtfmri.frames.map((f) => f.roi));
    const R = syntheticRoi();
    const box = { slice0: R.slice0, slice1: R.slice0 + 1, row0: R.row0, row1: R.row1, col0: R.col0, col1: R.col1 };
    // Where that box lies on the canvas (mosaic tiles, grid x grid), in page coordinates.
    const geo = await page.evaluate(() => {
      const c = document.getElementById('image');
      const r = c.getBoundingClientRect();
      return { left: r.left, top: r.top, w: r.width, h: r.height, cw: c.width, ch: c.height, slices: Number(document.getElementById('slice').max) + 1 };
    });
    const grid = Math.ceil(Math.sqrt(geo.slices));
    const tile = geo.cw / grid;
    const at = (row, col) => [geo.left + ((box.slice0 % grid) * tile + col + 0.5) * (geo.w / geo.cw), geo.top + (Math.floor(box.slice0 / grid) * tile + row + 0.5) * (geo.h / geo.ch)];
    await page.mouse.move(...at(box.row0, box.col0));
    await page.mouse.down();
    await page.mouse.move(...at(box.row1 - 1, box.col1 - 1), { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction(() => window.rtfmri.recomputes >= 1 || window.rtfmri.state === 'error', null, { timeout: 30_000 });
    // The expected means, from the same files in Node.
    const expected = series.map((b) => {
      const v = mosaicToVolume(parseDicom(b));
      let sum = 0, cnt = 0;
      for (let s2 = box.slice0; s2 < box.slice1; s2++) for (let r = box.row0; r < box.row1; r++) for (let c = box.col0; c < box.col1; c++) (sum += v.data[(s2 * v.rows + r) * v.cols + c]), cnt++;
      return sum / cnt;
    });
    const drawn = await pageSummary(page, 'roi-box');
    await page.selectOption('#view', 'slice');
    await page.waitForFunction(() => window.rtfmri.redraws >= 1 || window.rtfmri.state === 'error', null, { timeout: 30_000 });
    await page.selectOption('#units', 'psc');
    const afterView = await pageSummary(page, 'roi-slice-view');
    await browser.close();
    return { scenario: name, ...afterView, errors, before, expected, box, boxCanvas: drawn.canvas };
  }
  if (name === 'mask') {
    // A NIfTI mask of the synthetic ROI, stored with its rows flipped (a different voxel order and
    // affine than the run's): the page places it through both affines and gets the box's means.
    await dicomReady();
    const series = timedSeries(n, cfg.tr);
    const nii = mosaicToNii(parseDicom(series[0]));
    const [rows, cols, slices] = nii.shape;
    const R = syntheticRoi();
    const data = new Uint8Array(rows * cols * slices);
    for (let s2 = R.slice0; s2 < R.slice1; s2++) for (let r = R.row0; r < R.row1; r++) for (let c = R.col0; c < R.col1; c++) data[rows - 1 - r + rows * (c + cols * s2)] = 1;
    const a = nii.affine.map((row) => row.slice());
    for (let k = 0; k < 3; k++) (a[k][3] += a[k][0] * (rows - 1)), (a[k][0] = -a[k][0]);
    mkdirSync(fixtures, { recursive: true });
    writeFileSync(join(fixtures, 'roi-flipped.nii.gz'), encodeNifti(niftiImage(data, [rows, cols, slices], a), { gzip: true }));
    const browser = await launch();
    const { page, errors } = await openPage(browser, scanDir, 'auto', n, false, { roi: '', mask: '/fixtures/roi-flipped.nii.gz' });
    const { done } = replay(scanDir, n, cfg.tr, 0, series);
    await done;
    await page.waitForFunction(() => window.rtfmri.state === 'done' || window.rtfmri.state === 'error', null, { timeout: 30_000 });
    const s2 = await pageSummary(page, 'mask');
    const roiError = await page.evaluate(() => (document.getElementById('roi-error').hidden ? '' : document.getElementById('roi-error').textContent));
    // The same ROI as a DICOM mask in the run's own grid (a mosaic of 0/1), chosen after the run:
    // the time course is recomputed from it.
    const els = syntheticEpiElements(0);
    const px = els.find((e) => e.tag === 'PixelData');
    const mcols = els.find((e) => e.tag === 'Columns' || e.tag === 0x00280011).value;
    const grid = Math.ceil(Math.sqrt(slices));
    const mosaic = new px.value.constructor(px.value.length);
    for (let s3 = R.slice0; s3 < R.slice1; s3++) for (let r = R.row0; r < R.row1; r++) for (let c = R.col0; c < R.col1; c++) mosaic[(Math.floor(s3 / grid) * rows + r) * mcols + (s3 % grid) * cols + c] = 1;
    px.value = mosaic;
    writeFileSync(join(fixtures, 'roi-mask.dcm'), writeDicom(els, { transferSyntaxUID: '1.2.840.10008.1.2.1' }));
    await page.evaluate(async () => {
      const bytes = new Uint8Array(await (await fetch('/fixtures/roi-mask.dcm')).arrayBuffer());
      const input = document.getElementById('mask-file');
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'roi-mask.dcm'));
      input.files = dt.files;
      input.dispatchEvent(new Event('change'));
    });
    await page.waitForFunction(() => window.rtfmri.recomputes >= 2 || window.rtfmri.state === 'error', null, { timeout: 30_000 });
    const dicomMask = await page.evaluate(() => ({ roi: window.rtfmri.roi, values: window.rtfmri.frames.map((f) => f.roi), error: document.getElementById('roi-error').hidden ? '' : document.getElementById('roi-error').textContent }));
    await browser.close();
    return { scenario: name, ...s2, errors, roiError, maskVoxels: data.reduce((x, y) => x + y, 0), dicomMask };
  }
  if (name === 'demo' || name === 'demo-noiface') {
    // `rtfmri demo --browser` as a user runs it (its own relay and runtime processes), opened in
    // Chromium without the test-only mDNS switch. 'demo' runs where this namespace has a veth (the
    // machine's first non-loopback IPv4 address); 'demo-noiface' where there is only loopback.
    const lines = [];
    const ac = new AbortController();
    const volumes = name === 'demo' ? 24 : 6;
    let urlSeen;
    const urlLine = new Promise((res) => (urlSeen = res));
    const run = runBrowserDemo({ tr: 0.15, volumes, out: (l) => (lines.push(l), /index\.html#/.test(l) && urlSeen(l.trim())), signal: ac.signal });
    const url = await Promise.race([urlLine, run.then(() => { throw new Error(`demo ended early:\n${lines.join('\n')}`); })]);
    const browser = await launch([], BASE_ARGS);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors = [];
    lastPage = { page, errors };
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction((k) => window.rtfmri.frames.length >= k || window.rtfmri.state === 'error', volumes, { timeout: 60_000 });
    // The demo's analysis (Node SDK) shows its results on the page's web display panel.
    await page.waitForFunction(() => (window.rtfmri.displayState.status === 'Run 1 done' && window.rtfmri.displayState.uploads.length >= 2) || window.rtfmri.state === 'error', null, { timeout: 30_000 });
    const panel = await page.evaluate(() => ({
      shown: !document.getElementById('display').hidden,
      status: document.getElementById('run-status').textContent,
      points: document.querySelectorAll('#runs .run[data-run="1"] circle').length,
      values: window.rtfmri.displayState.runs[1]?.map((p) => p.y),
      uploads: document.getElementById('uploads').textContent,
      configTitle: document.querySelector('#config .config-title')?.textContent,
      logLines: window.rtfmri.displayState.logs.length,
    }));
    const s2 = await pageSummary(page, name);
    // The terminal's lines about the page's channel come from the runtime's log: give them a moment.
    for (let i = 0; i < 50 && name === 'demo' && !lines.some((l) => /direct WebRTC channel/.test(l)); i++) await sleep(100);
    await browser.close();
    ac.abort();
    const result = await run;
    return { scenario: name, ...s2, errors, lines, webrtc: result.webrtc, panel };
  }
  if (name === 'strict') {
    // transport 'webrtc' in a browser without WebRTC: never the relay; it keeps trying.
    const browser = await launch();
    const page = await browser.newPage();
    await page.addInitScript(() => { delete window.RTCPeerConnection; });
    const q = new URLSearchParams({ relay: relay.url, token: PAGE_TOKEN, name: NAME, dir: scanDir, pattern: PATTERN, transport: 'webrtc', n: String(n), timeout: '2' });
    await page.goto(`http://127.0.0.1:${http.address().port}/index.html?${q}`);
    const { done } = replay(scanDir, 2, 0.05);
    await done;
    await page.waitForFunction(() => window.rtfmri.statuses.length >= 2, null, { timeout: 15_000 });
    const s = await page.evaluate(() => ({ state: window.rtfmri.state, frames: window.rtfmri.frames, statuses: window.rtfmri.statuses, statusText: document.getElementById('status').textContent }));
    await browser.close();
    return { scenario: name, ...s };
  }
  if (name === 'minimal') {
    // The SDK's standalone build in a plain page (no bundler on the experiment's side).
    const browser = await launch();
    const page = await browser.newPage();
    const errors = [];
    lastPage = { page, errors };
    page.on('pageerror', (e) => errors.push(String(e)));
    const q = new URLSearchParams({ relay: relay.url, token: PAGE_TOKEN, name: NAME, dir: scanDir, pattern: PATTERN, n: String(n) });
    await page.goto(`http://127.0.0.1:${http.address().port}/minimal.html?${q}`);
    const { done } = replay(scanDir, n, cfg.tr);
    await done;
    await page.waitForFunction((k) => (window.rtfmriMinimal?.length ?? 0) >= k, n, { timeout: 30_000 });
    const seen = await page.evaluate(() => window.rtfmriMinimal);
    // putFile of a Blob with a token allowed to write: streamed from the page through the SDK's
    // worker (a transferred ReadableStream) to the runtime, read back whole
    const upload = await page.evaluate(async ({ relayUrl, token, dir }) => {
      const { DataInterface } = await import('./sdk/rtfmri-sdk.js');
      const di = new DataInterface({ dataRemote: true, url: relayUrl, token, name: 'scanner1', transport: 'websocket' });
      try {
        await di.waitForRuntime(10);
        // not DICOM (the runtime would anonymize a DICOM on the way back): text, then bytes
        const file = new Uint8Array(3 * 1024 * 1024 + 7);
        for (let i = 0; i < file.length; i += 101) file[i] = i & 0xff;
        const blob = new Blob(['# rtfmri upload test, not DICOM\n', file]);
        await di.putFile(dir + '/uploaded.dcm', blob);
        const back = await di.getFile(dir + '/uploaded.dcm');
        const want = new Uint8Array(await blob.arrayBuffer());
        return { bytes: back.byteLength, same: back.byteLength === want.length && back.every((b, i) => b === want[i]) };
      } finally {
        await di.close();
      }
    }, { relayUrl: relay.url, token: WRITE_TOKEN, dir: scanDir });
    await browser.close();
    return { scenario: name, seen, errors, upload };
  }
  if (name === 'compressed') {
    // JPEG-LS lossless volumes: the worker decodes them with cornerstone's CharLS codec (WebAssembly).
    const series = await jpegLsSeries(n);
    const browser = await launch();
    const { page, errors } = await openPage(browser, scanDir, 'auto', n);
    const { done } = replay(scanDir, n, cfg.tr, 0, series);
    await done;
    await page.waitForFunction((k) => window.rtfmri.frames.length >= k || window.rtfmri.state === 'error', n, { timeout: 30_000 });
    const s = await pageSummary(page, name);
    await browser.close();
    return { scenario: name, ...s, errors, bytes: series.map((b) => b.length) };
  }
  throw new Error(`unknown scenario ${name}`);
}

try {
  relay = await startRelayServer({ port: 0, host: '127.0.0.1', tokens: sharedToken(TOKEN) });
  http = await serveStatic();
  await startRuntime();
  for (const name of cfg.scenarios) {
    const t0 = nowMs();
    try {
      emit({ ...(await scenario(name)), ms: Math.round(nowMs() - t0) });
    } catch (e) {
      const seen = await lastPage?.page.evaluate(() => ({ state: window.rtfmri?.state, error: window.rtfmri?.error, frames: window.rtfmri?.frames.length, statuses: window.rtfmri?.statuses })).catch((x) => String(x));
      emit({ scenario: name, failed: String(e?.stack ?? e), page: seen, errors: lastPage?.errors, ms: Math.round(nowMs() - t0) });
    }
  }
  emit({ done: true });
} finally {
  for (const b of browsers) await b.close().catch(() => {});
  for (const c of children) c.kill('SIGKILL');
  await relay?.close().catch(() => {});
  http?.close();
  rmSync(work, { recursive: true, force: true });
  setTimeout(() => process.exit(0), 100).unref();
}
