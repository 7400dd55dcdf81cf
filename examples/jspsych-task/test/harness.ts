// The jsPsych task end to end, run by task.test.ts inside a fresh network namespace with only
// loopback up (nothing can leave the machine): a relay, the runtime (which hosts the feedback
// hub), a Node analysis script with an 'all' token that sets one result per TR, and Debian's
// Chromium (playwright-core) running the task page with a 'feedback' token. Prints JSON lines:
// one per scenario, then {"done":true}. Run with `node --import tsx --conditions=source`.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { extname, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startRuntimeServer } from '@rtfmri/runtime';
import { mintClientToken } from '@rtfmri/relay/protocol';
import { DataInterface, hostRelay, SubjectInterface, WebDisplayInterface } from '@rtfmri/sdk';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
const TOKEN = 'jspsych-test-secret';
const cfg = { trs: 20, ...JSON.parse(process.argv[2] ?? '{}') } as { trs: number };
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
const emit = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
};

function serveStatic(): Promise<Server> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/$/, '/index.html');
    const file = join(dist, path);
    if (!file.startsWith(dist) || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

/** Page clock minus this process's clock (ms), from the tightest of a few bracketed reads. */
async function clockOffset(page: Page): Promise<number> {
  let best: { rtt: number; off: number } | undefined;
  for (let i = 0; i < 7; i++) {
    const t0 = nowMs();
    const p = await page.evaluate(() => performance.timeOrigin + performance.now());
    const t1 = nowMs();
    if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, off: p - (t0 + t1) / 2 };
  }
  return best!.off;
}

let relay = await hostRelay({ token: TOKEN, host: '127.0.0.1' });
const relayPort = Number(new URL(relay.url).port);
const rt = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [here], allowedFileTypes: ['.ts'], webrtc: false });
await rt.service.whenConnected();
const http = await serveStatic();
const base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
const OUT = join(here, '..', 'test-output');
const browsers: Browser[] = [];

async function openTask(token: string, extra: Record<string, string> = {}): Promise<{ page: Page; errors: string[] }> {
  return openPage('index.html', token, extra);
}

async function openPage(file: string, token: string, extra: Record<string, string> = {}): Promise<{ page: Page; errors: string[] }> {
  const b = await chromium.launch({ executablePath: process.env.RTFMRI_CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  browsers.push(b);
  const page = await b.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const q = new URLSearchParams({ relay: relay.url, token, name: 'scanner1', run: '1', client: 'participant', ...extra });
  await page.goto(`${base}/${file}?${q}`);
  return { page, errors };
}

async function taskRun(): Promise<void> {
  const analysisDi = new DataInterface({ dataRemote: true, url: relay.url, token: mintClientToken(TOKEN, { sub: 'analysis', methods: 'all' }), clientId: 'analysis' });
  await analysisDi.waitForRuntime(10);
  const subj = new SubjectInterface(analysisDi);
  const web = new WebDisplayInterface(analysisDi);
  const pageToken = mintClientToken(TOKEN, { sub: 'participant', runtimes: ['scanner1'], methods: 'feedback', ttlSeconds: 600 });
  const n = cfg.trs;
  const DELAY_TR = 3;
  const DELAY_MS = 200;
  const { page, errors } = await openTask(pageToken, { trs: String(n), duration: '400', display: 'bar' });
  await page.waitForFunction(() => (window as any).rtfmriTask?.state !== 'connecting', null, { timeout: 20_000 });
  // The experimenter's monitor (a 'display' token) follows the run's plot, status and log.
  const monitorToken = mintClientToken(TOKEN, { sub: 'monitor', runtimes: ['scanner1'], methods: 'display', ttlSeconds: 600 });
  const mon = await openPage('monitor.html', monitorToken, { client: 'monitor' });
  await mon.page.waitForFunction(() => (window as any).rtfmriMonitor?.state !== 'connecting', null, { timeout: 20_000 });
  await web.sendRunStatus('Run 1 running');
  await subj.setMessage('Get ready');
  const setAt: number[] = [];
  const values: number[] = [];
  for (let tr = 0; tr < n; tr++) {
    // The trial for this TR has begun and its dequeueResult is waiting on the runtime.
    await page.waitForFunction((k) => (window as any).rtfmriTask.trials.length >= k && !!document.getElementById('rtfmri-waiting'), tr, { timeout: 10_000, polling: 5 });
    await sleep(30);
    const value = Math.sin(tr / 3);
    values.push(value);
    setAt[tr] = nowMs();
    await subj.setResult(1, tr, value, tr === DELAY_TR ? DELAY_MS : 0);
    if (tr % 2 === 0) {
      // The participant answers during the feedback.
      await page.waitForSelector(`#rtfmri-feedback[data-tr="${tr}"]`, { timeout: 5000 });
      await page.keyboard.press(tr % 4 === 0 ? 'f' : 'j');
      if (tr === 4) {
        mkdirSync(OUT, { recursive: true });
        await page.screenshot({ path: join(OUT, 'task-feedback.png') });
      }
    }
    await web.plotDataPoint(1, tr, value);
    await web.userLog(`run 1 TR ${tr}: ${value.toFixed(3)}`);
  }
  await page.waitForFunction(() => (window as any).rtfmriTask.state !== 'running', null, { timeout: 20_000 });
  await web.sendRunStatus('Run 1 done');
  await mon.page.waitForFunction(() => (window as any).rtfmriMonitor.status === 'Run 1 done', null, { timeout: 10_000 });
  // rt-cloud's other web display calls: the configuration, the upload log, all points resent.
  await web.sendConfig({ title: 'Neurofeedback task', runNum: [1], roi: 'synthetic box' }, 'conf/task.toml');
  await web.sendUploadStatus('run1_results.json');
  await web.sendUploadStatus('------upload complete------');
  await web.sendPreviousDataPoints();
  await mon.page.waitForFunction(() => (window as any).rtfmriMonitor.uploads.length >= 2 && (window as any).rtfmriMonitor.seq > 0 && document.getElementById('config')!.textContent!.includes('conf/task.toml'), null, { timeout: 10_000 });
  const display = await mon.page.evaluate(() => ({
    uploads: document.getElementById('uploads')!.textContent,
    config: document.getElementById('config')!.textContent,
    configTitle: document.querySelector('#config .config-title')?.textContent,
  }));
  const monitor = await mon.page.evaluate(() => {
    const m = (window as any).rtfmriMonitor;
    return {
      state: m.state, status: m.status, logs: m.logs.length, run1: m.runs[1], link: document.getElementById('link')!.textContent,
      circles: document.querySelectorAll('.run[data-run="1"] circle').length, runsShown: document.querySelectorAll('.run').length, axisLabels: [...document.querySelectorAll('.run svg text')].map((t) => t.textContent).filter((t) => /TR|result/.test(t ?? '')),
    };
  });
  mkdirSync(OUT, { recursive: true });
  await mon.page.screenshot({ path: join(OUT, 'monitor.png') });
  const off = await clockOffset(page);
  const task = await page.evaluate(() => (window as any).rtfmriTask);
  await sleep(200);
  const responses = await subj.getAllResponses();
  const r0 = await subj.getResponse(1, 0);
  const trials = task.trials as Array<Record<string, any>>;
  // Node clock: feedback put on the page (and the next frame) minus the moment setResult was called.
  const shown = trials.map((t, i) => t.feedback_onset_time - off - setAt[i]);
  const frame = trials.map((t, i) => t.feedback_frame_time - off - setAt[i]);
  const noDelay = shown.filter((_, i) => i !== DELAY_TR);
  const noDelayFrame = frame.filter((_, i) => i !== DELAY_TR);
  emit({
    scenario: 'task',
    state: task.state,
    error: task.error,
    errors: [...errors, ...mon.errors],
    monitor: { ...monitor, display },
    trials: trials.map((t) => ({ run_id: t.run_id, tr_id: t.tr_id, value: t.value, onset_delay_ms: t.onset_delay_ms, key: t.key_pressed, rt: t.key_response_time, timed_out: t.timed_out, skipped: t.skipped, message: t.message, delay: t.feedback_onset_time - t.result_received_time })),
    values,
    responses: responses.map((r) => ({ runId: r.runId, trId: r.trId, key: r.key })),
    response0: r0,
    latency: {
      n: noDelay.length,
      shownP50: pct(noDelay, 50), shownP90: pct(noDelay, 90), shownMax: Math.max(...noDelay),
      frameP50: pct(noDelayFrame, 50), frameP90: pct(noDelayFrame, 90),
      delayedTr: shown[DELAY_TR],
      clockOffsetMs: off,
      loadavg: loadavg(),
    },
  });
  await analysisDi.close();
}

async function badToken(): Promise<void> {
  const expired = mintClientToken(TOKEN, { sub: 'participant', methods: 'feedback', ttlSeconds: -10 });
  const { page } = await openTask(expired, { trs: '2' });
  await page.waitForFunction(() => (window as any).rtfmriTask?.state === 'error', null, { timeout: 20_000 });
  const s = await page.evaluate(() => ({ ...(window as any).rtfmriTask, text: document.body.textContent }));
  emit({ scenario: 'expired', state: s.state, error: s.error, text: s.text, trials: s.trials.length });
}

async function relayRestart(): Promise<void> {
  // The relay goes away in the middle of a TR's wait and comes back on the same port: the page's
  // wait goes on (its queue lives in the runtime, under its client id), nothing is lost.
  const analysisDi = new DataInterface({ dataRemote: true, url: relay.url, token: mintClientToken(TOKEN, { sub: 'analysis2', methods: 'all' }), clientId: 'analysis2', minBackoffMs: 50, maxBackoffMs: 200 } as never);
  await analysisDi.waitForRuntime(10);
  const subj = new SubjectInterface(analysisDi);
  const token = mintClientToken(TOKEN, { sub: 'participant2', methods: 'feedback', ttlSeconds: 600 });
  const { page, errors } = await openTask(token, { trs: '4', duration: '100', run: '2', client: 'participant2' });
  await page.waitForFunction(() => (window as any).rtfmriTask?.state === 'running', null, { timeout: 20_000 });
  for (let tr = 0; tr < 4; tr++) {
    await page.waitForFunction((k) => (window as any).rtfmriTask.trials.length >= k && !!document.getElementById('rtfmri-waiting'), tr, { timeout: 20_000, polling: 5 }).catch(async (e) => {
      throw new Error(`TR ${tr}: ${e.message}; page: ${JSON.stringify(await page.evaluate(() => ({ t: (window as any).rtfmriTask, html: document.body.innerHTML.slice(0, 300) })))}; errors ${errors.join(' | ')}`);
    });
    if (tr === 2) {
      await sleep(100);
      await relay.close();
      await sleep(700);
      relay = await hostRelay({ token: TOKEN, host: '127.0.0.1', port: relayPort });
      await rt.service.whenConnected();
      await analysisDi.waitForRuntime(20);
    }
    await subj.setResult(2, tr, tr / 4);
  }
  await page.waitForFunction(() => (window as any).rtfmriTask.state !== 'running', null, { timeout: 30_000 });
  const task = await page.evaluate(() => (window as any).rtfmriTask);
  emit({ scenario: 'relay-restart', state: task.state, errors, trials: task.trials.map((t: any) => ({ tr_id: t.tr_id, value: t.value, timed_out: t.timed_out, disconnects: t.disconnects, error: t.error })) });
  await analysisDi.close();
}

async function wrongScope(): Promise<void> {
  // A token for streams only: it reaches the runtime, but not the feedback channel.
  const streamOnly = mintClientToken(TOKEN, { sub: 'participant', methods: 'stream', ttlSeconds: 600 });
  const { page } = await openTask(streamOnly, { trs: '2' });
  await page.waitForFunction(() => (window as any).rtfmriTask?.state === 'error', null, { timeout: 20_000 });
  const s = await page.evaluate(() => ({ ...(window as any).rtfmriTask, text: document.body.textContent }));
  emit({ scenario: 'wrong-scope', state: s.state, error: s.error, text: s.text, trials: s.trials.length });
}

const only = process.env.RTFMRI_ONLY?.split(',');
const scenarios: Array<[string, () => Promise<void>]> = [['task', taskRun], ['expired', badToken], ['wrong-scope', wrongScope], ['relay-restart', relayRestart]];
try {
  for (const [name, f] of scenarios) if (!only || only.includes(name)) await f();
} catch (e) {
  emit({ scenario: 'failed', failed: String((e as Error).stack ?? e) });
} finally {
  for (const b of browsers) await b.close().catch(() => undefined);
  http.close();
  await rt.close();
  await relay.close();
  emit({ done: true });
  process.exit(0);
}
