// The browser SDK's per-call options and series discovery (issue 13), run here in Node: the page's
// DataInterface with its WorkerApi on the same thread (`worker: false`), over a WebSocket to a real
// relay (the `ws` package standing in for the browser's WebSocket). The AbortSignal stays on the page
// and cancels the worker's call by number; the timeout travels with the call.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as browser from '../src/browser/index.js';
import { browserInNode, failure, sleep, tmpDir, writeVolume } from './harness.js';

let di: browser.DataInterface;
let env: Awaited<ReturnType<typeof browserInNode>> | undefined;
const d = tmpDir('rtfmri-browser-options-');

beforeAll(async () => {
  env = await browserInNode(d, ['.dcm', '.txt']);
  di = env.di;
}, 60_000);
afterAll(async () => {
  await env?.close();
  fs.rmSync(d, { recursive: true, force: true });
});

describe('browser SDK: per-call options and series discovery', () => {
  it('{ timeout } on a wait, and a signal that cancels it so the stream serves the next request at once', async () => {
    const id = await di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false);
    const t0 = performance.now();
    const e = await failure(di.getImageData(id, { timeout: 0.3 }));
    expect(e).toBeInstanceOf(browser.NotFoundError);
    expect(performance.now() - t0).toBeLessThan(2000);
    const c = new AbortController();
    const p = di.getImageData(id, 0, 30, { signal: c.signal });
    await sleep(150);
    c.abort();
    expect(await failure(p)).toBeInstanceOf(browser.CancelledError);
    writeVolume(d, 0);
    const t1 = performance.now();
    expect(Number((await di.getImageData(id, 0, 5)).get('InstanceNumber'))).toBe(1);
    expect(performance.now() - t1).toBeLessThan(1500);
    // getVolumeFrame takes them too
    const c2 = new AbortController();
    const f = di.getVolumeFrame(id, 5, 30, {}, { signal: c2.signal });
    c2.abort();
    expect(await failure(f)).toBeInstanceOf(browser.CancelledError);
  });

  it('every method takes the options last; wrong types and options are named', async () => {
    fs.writeFileSync(path.join(d, 'a.txt'), 'a');
    expect(new TextDecoder().decode(await di.getFile(path.join(d, 'a.txt'), { timeout: 5 }))).toBe('a');
    expect(await di.listFiles(path.join(d, '*.txt'), { timeout: 5 })).toEqual([path.join(d, 'a.txt')]);
    expect(typeof (await di.ping({ timeout: 5 }))).toBe('number');
    await expect(di.ping({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(browser.CancelledError);
    expect((await failure(di.getImageData('1' as never))).message).toMatch(/argument 1 \(streamId\) must be a number/);
    expect((await failure(di.getFile(path.join(d, 'a.txt'), { rpc_timeout: 1 } as never))).message).toMatch(/unknown option 'rpc_timeout'/);
  });

  it('initSeriesWatch + nextSeries from the page (a read token)', async () => {
    expect(await di.initSeriesWatch(d)).toEqual([]);
    setTimeout(() => {
      fs.mkdirSync(path.join(d, 'run2'));
      fs.writeFileSync(path.join(d, 'run2', '001_000002_000001.dcm'), 'x');
    }, 100);
    const s = await di.nextSeries({ timeout: 5 });
    expect(s).toMatchObject({ name: 'run2', filePattern: '001_000002_{TR:06d}.dcm', firstIndex: 1 });
    await di.closeSeriesWatch();
  });
});
