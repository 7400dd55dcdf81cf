// The result/feedback channel (issue 14), end to end on loopback: relay + runtime (which hosts the
// hub) + an analysis script with an 'all' token + a participant's page with a 'feedback' token
// that reaches its queue and nothing of the file system.
import fs from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRuntimeServer } from '@rtfmri/runtime';
import { mintClientToken } from '@rtfmri/relay/protocol';
import {
  DataInterface, hostRelay, StateError, SubjectInterface, TimeoutError, ValidationError, WebDisplayInterface,
} from '../src/index.js';
import { failure, sleep, tmpDir, TOKEN } from './harness.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

async function world() {
  const relay = await hostRelay({ token: TOKEN });
  cleanups.push(() => relay.close());
  const dir = tmpDir();
  dirs.push(dir);
  fs.writeFileSync(`${dir}/notes.txt`, 'control-room notes');
  const rt = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [dir], allowedFileTypes: ['.txt'] });
  cleanups.push(() => rt.close());
  await rt.service.whenConnected();
  const client = (sub: string, methods: string) => {
    const di = new DataInterface({ dataRemote: true, url: relay.url, token: mintClientToken(TOKEN, { sub, methods, runtimes: ['scanner1'], ttlSeconds: 600 }), clientId: sub });
    cleanups.push(() => di.close());
    return di;
  };
  const analysis = client('analysis', 'all');
  const page = client('page1', 'feedback');
  await analysis.waitForRuntime(5);
  await page.waitForRuntime(5);
  return { dir, analysis, page, relay, client };
}

describe('feedback channel (rt-cloud subjectInterface / webDisplayInterface)', () => {
  it('results go from the analysis to the page queue in order, responses come back; the page token cannot read files', async () => {
    const { dir, analysis, page } = await world();
    const subjA = new SubjectInterface(analysis);
    const subjP = new SubjectInterface(page);

    // Nothing queued yet: non-blocking dequeue fails at once, blocking after its timeout.
    expect(await failure(subjP.dequeueResult())).toBeInstanceOf(TimeoutError);
    const t0 = Date.now();
    expect(await failure(subjP.dequeueResult(true, 0.2))).toBeInstanceOf(TimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);

    await subjA.setMessage('Preparing Run ...');
    await subjA.setResult(1, 0, 0.25);
    await subjA.setResult(1, 1, -0.5, 300);
    await subjA.setResultDict({ runId: 1, trId: 2, value: 0.9, extra: [1, 2] }, 10, 'roi');
    const m0 = await subjP.dequeueResult(true, 1);
    expect(m0).toMatchObject({ kind: 'message', message: 'Preparing Run ...' });
    const r0 = await subjP.dequeueResult(true, 1);
    expect(r0).toMatchObject({ kind: 'result', runId: 1, trId: 0, value: 0.25, onsetTimeDelayMs: 0 });
    expect(Math.abs((r0 as { timestamp: number }).timestamp - Date.now() / 1000)).toBeLessThan(5);
    expect(await subjP.dequeueResult(true, 1)).toMatchObject({ kind: 'result', trId: 1, value: -0.5, onsetTimeDelayMs: 300 });
    expect(await subjP.dequeueResult(true, 1)).toMatchObject({ kind: 'resultDict', name: 'roi', onsetTimeDelayMs: 10, value: 0.9, extra: [1, 2] });

    // A blocking dequeue is woken by the next setResult.
    const waiting = subjP.dequeueResult(true, 5);
    await sleep(50);
    await subjA.setResult(1, 3, 1.5);
    expect(await waiting).toMatchObject({ trId: 3, value: 1.5 });

    // Responses: getResponse gives {} before, the record after; getAllResponses drains.
    expect(await subjA.getResponse(1, 0)).toEqual({});
    await subjP.addResponse(1, 0, { key: 'f', rt: 412.5 });
    await subjP.addResponse(1, 1, { key: null, rt: null });
    expect(await subjA.getResponse(1, 0)).toMatchObject({ runId: 1, trId: 0, key: 'f', rt: 412.5 });
    const all = await subjA.getAllResponses();
    expect(all.map((r) => r.trId)).toEqual([0, 1]);
    expect(await subjA.getAllResponses()).toEqual([]);

    // Refusals, typed: bad run/TR ids, non-finite values, negative delays, a second result for a TR.
    for (const [p, cls, re] of [
      [subjA.setResult(0, 1, 1), ValidationError, /runId must be an integer >= 1/],
      [subjA.setResult(1, -1, 1), ValidationError, /trId must be an integer >= 0/],
      [subjA.setResult(1.5, 1, 1), ValidationError, /runId/],
      [subjA.setResult(1, 9, Number.NaN), ValidationError, /finite number/],
      [subjA.setResult(1, 9, 1, -5), ValidationError, /onsetTimeDelayMs must be >= 0/],
      [subjA.setResult(1, 0, 2), StateError, /run 1 TR 0 already has a result/],
    ] as const) {
      const e = await failure(p);
      expect(e).toBeInstanceOf(cls);
      expect(e.message).toMatch(re);
    }

    // The page's token: its queue and responses only.
    for (const call of [() => page.getFile(`${dir}/notes.txt`), () => page.listFiles(`${dir}/*`), () => subjP.setResult(1, 7, 1), () => subjP.getAllResponses(), () => new WebDisplayInterface(page).userLog('x')]) {
      const e = await failure(call());
      expect(e.message).toMatch(/not allowed|unknown method|not exposed/i);
    }
    expect(typeof (await page.ping())).toBe('number');
    // The refusal says which scope is needed.
    expect((await failure(subjP.setResult(1, 7, 1))).message).toMatch(/setResult: this token does not allow it \(.*scope 'feedback'.*'all'\)/);
  });

  it('web display: plotDataPoint, clearRunPlot, userLog, sendRunStatus reach a display-scoped monitor', async () => {
    const { analysis, client } = await world();
    const monitorDi = client('monitor', 'display');
    await monitorDi.waitForRuntime(5);
    const web = new WebDisplayInterface(analysis);
    const mon = new WebDisplayInterface(monitorDi);
    const pending = mon.getDisplayEvents(0, 5);
    await web.sendRunStatus('Run 1 started');
    const first = await pending;
    expect(first[0]).toMatchObject({ seq: 1, cmd: 'runStatus', status: 'Run 1 started' });
    await web.plotDataPoint(1, 1, 0.5);
    await web.plotDataPoint(1, 2, 0.7);
    await web.plotDataPoint(1, 2, 0.8);
    await web.plotDataPoint(2, 1, -1);
    await web.userLog('TR 2 done');
    const ev = await mon.getDisplayEvents(1);
    expect(ev.map((e) => e.cmd)).toEqual(['plotDataPoint', 'plotDataPoint', 'plotDataPoint', 'plotDataPoint', 'userLog']);
    expect(await mon.getPreviousDataPoints()).toEqual([[{ x: 0, y: 0 }, { x: 1, y: 0.5 }, { x: 2, y: 0.8 }], [{ x: 1, y: -1 }]]);
    await web.clearRunPlot(1);
    expect((await mon.getPreviousDataPoints())[0]).toEqual([]);
    await web.sessionLog('session 7');
    await web.debugLog('debug');
    await web.setUserError('ROI mask missing');
    await web.setDebugError('trace');
    await web.clearAllPlots();
    const more = await mon.getDisplayEvents(ev.at(-1)!.seq);
    expect(more.map((e) => e.cmd)).toEqual(['plotDataPoint', 'sessionLog', 'debugLog', 'userError', 'debugError', 'clearAllPlots']);
    expect(more[3]).toMatchObject({ error: 'ROI mask missing' });
    expect(await mon.getPreviousDataPoints()).toEqual([[{ x: 0, y: 0 }]]);
    const e = await failure(web.plotDataPoint(0, 1, 1));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toMatch(/runId must be number > 0/);
    // The monitor's token cannot send feedback, nor read files.
    expect((await failure(new SubjectInterface(monitorDi).setResult(1, 1, 1))).message).toMatch(/not allowed|unknown method|not exposed/i);
  });

  it("web display: rt-cloud's sendUploadStatus, sendConfig and sendPreviousDataPoints reach the monitor as events", async () => {
    const { analysis, client } = await world();
    const monitorDi = client('monitor', 'display');
    await monitorDi.waitForRuntime(5);
    const web = new WebDisplayInterface(analysis);
    const mon = new WebDisplayInterface(monitorDi);
    const cfg = { title: 'Amygdala NF', runNum: [1, 2], nested: { roi: 'amy.nii.gz' } };
    await web.sendConfig(cfg, 'conf/amygActivation.toml');
    cfg.title = 'changed after sending';
    await web.sendUploadStatus('/data/out/run1.nii.gz');
    await web.sendUploadStatus('------upload complete------');
    await web.plotDataPoint(1, 3, 0.25);
    await web.plotDataPoint(2, 1, -0.5);
    await web.sendPreviousDataPoints();
    const ev = await mon.getDisplayEvents(0);
    expect(ev.map((e) => e.cmd)).toEqual(['setConfig', 'uploadStatus', 'uploadStatus', 'plotDataPoint', 'plotDataPoint', 'setDataPoints']);
    // rt-cloud's message shapes: {cmd:'setConfig', value, filename}, {cmd:'uploadStatus', file}, {cmd:'setDataPoints', value}.
    expect(ev[0]).toMatchObject({ cmd: 'setConfig', value: { title: 'Amygdala NF', runNum: [1, 2], nested: { roi: 'amy.nii.gz' } }, filename: 'conf/amygActivation.toml' });
    expect(ev[1]).toMatchObject({ cmd: 'uploadStatus', file: '/data/out/run1.nii.gz' });
    expect(ev[5]).toMatchObject({ cmd: 'setDataPoints', value: [[{ x: 0, y: 0 }, { x: 3, y: 0.25 }], [{ x: 1, y: -0.5 }]] });
    // filename defaults to '' as in rt-cloud.
    await web.sendConfig({ a: 1 });
    expect((await mon.getDisplayEvents(ev.at(-1)!.seq)).at(-1)).toMatchObject({ cmd: 'setConfig', value: { a: 1 }, filename: '' });
    // Bad input: typed refusals, nothing emitted.
    const before = (await mon.getDisplayEvents(0)).length;
    for (const bad of [web.sendConfig([1, 2] as unknown as Record<string, unknown>), web.sendConfig({ a: 1 }, 7 as unknown as string), web.sendUploadStatus(3 as unknown as string), web.sendConfig({ big: 'x'.repeat(1 << 20) })]) {
      expect(await failure(bad)).toBeInstanceOf(ValidationError);
    }
    expect((await mon.getDisplayEvents(0)).length).toBe(before);
    // A monitor's token cannot send them (they are the analysis side's).
    expect((await failure(mon.sendUploadStatus('x'))).message).toMatch(/sendUploadStatus: this token does not allow it/);
  });

  it('dataRemote: false uses the hub of the in-process runtime, the one its served pages reach', async () => {
    const dir = tmpDir();
    dirs.push(dir);
    const local = new DataInterface({ dataRemote: false, allowedDirs: [dir], allowedFileTypes: ['.txt'] });
    cleanups.push(() => local.close());
    const relay = await hostRelay({ token: TOKEN });
    cleanups.push(() => relay.close());
    const rt = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, dataInterface: (await local.impl()) as never, webrtc: false });
    cleanups.push(() => rt.close());
    await rt.service.whenConnected();
    const page = new DataInterface({ dataRemote: true, url: relay.url, token: mintClientToken(TOKEN, { sub: 'page3', methods: 'feedback' }), clientId: 'page3' });
    cleanups.push(() => page.close());
    await page.waitForRuntime(5);
    const here = new SubjectInterface(local);
    expect(here.subjectRemote).toBe(true);
    await here.setResult(1, 0, 0.5, 20);
    const subjP = new SubjectInterface(page);
    expect(await subjP.dequeueResult(true, 1)).toMatchObject({ kind: 'result', runId: 1, trId: 0, value: 0.5, onsetTimeDelayMs: 20 });
    await subjP.addResponse(1, 0, { key: 'a' });
    expect(await here.getResponse(1, 0)).toMatchObject({ key: 'a' });
    expect(await failure(here.setResult(1, 0, 0.6))).toBeInstanceOf(StateError);
  });

  it('a page that reconnects keeps its queue (keyed by its client id); results set before any page asked wait for it', async () => {
    const { analysis, relay } = await world();
    const subjA = new SubjectInterface(analysis);
    await subjA.setResult(2, 0, 0.1);
    const token = mintClientToken(TOKEN, { sub: 'page2', methods: 'feedback' });
    const p1 = new DataInterface({ dataRemote: true, url: relay.url, token, clientId: 'page2' });
    await p1.waitForRuntime(5);
    expect(await new SubjectInterface(p1).dequeueResult()).toMatchObject({ runId: 2, trId: 0 });
    await p1.close();
    await subjA.setResult(2, 1, 0.2);
    const p2 = new DataInterface({ dataRemote: true, url: relay.url, token, clientId: 'page2' });
    cleanups.push(() => p2.close());
    await p2.waitForRuntime(5);
    expect(await new SubjectInterface(p2).dequeueResult(true, 1)).toMatchObject({ runId: 2, trId: 1 });
  });
});
