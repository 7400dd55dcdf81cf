// Issue 13 through the SDK, in this process and through a relay: per-call options ({ timeout,
// signal }) on every method, errors that say what to do (local vs remote confusion, a dropped
// runtime), series discovery, and which token scopes reach it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRuntimeServer } from '@rtfmri/runtime';
import {
  CancelledError, DataInterface, DisconnectedError, NotFoundError, TimeoutError, ValidationError, hostRelay, mintClientToken,
} from '../src/index.js';
import { CLIENT_TOKEN, TOKEN, failure, setup, sleep, tmpDir, writeVolume, type Mode, type Setup } from './harness.js';

const dirs: string[] = [];
const dir = () => {
  const d = tmpDir();
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

for (const mode of ['local', 'remote'] as Mode[]) {
  describe(`per-call options (${mode})`, () => {
    let s: Setup;
    let d: string;
    const make = async () => {
      d = dir();
      s = await setup(mode, { allowedDirs: [d], allowedFileTypes: ['.dcm', '.txt'] });
      cleanups.push(() => s.close());
    };

    it('getImageData(id, { timeout }) == getImageData(id, null, timeout); DESIGN positional forms unchanged', async () => {
      await make();
      const id = await s.di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false);
      const t0 = performance.now();
      const e = await failure(s.di.getImageData(id, { timeout: 0.4 }));
      const ms = performance.now() - t0;
      expect(e).toBeInstanceOf(NotFoundError);
      expect(e.message).toMatch(/not found or corrupted/);
      expect(ms).toBeGreaterThan(350);
      expect(ms).toBeLessThan(2000);
      // options.timeout caps a longer positional timeout
      const t1 = performance.now();
      await failure(s.di.getImageData(id, 0, 30, { timeout: 0.3 }));
      expect(performance.now() - t1).toBeLessThan(2000);
      writeVolume(d, 0);
      expect(Number((await s.di.getImageData(id, null, 30)).get('InstanceNumber'))).toBe(1);
      writeVolume(d, 1);
      expect(Number((await s.di.getImageData(id, { timeout: 5 })).get('InstanceNumber'))).toBe(2);
    });

    it('signal cancels a wait at once; the stream then serves the next request without waiting out the cancelled one', async () => {
      await make();
      const id = await s.di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false);
      const c = new AbortController();
      const p = s.di.getImageData(id, 0, 30, { signal: c.signal });
      await sleep(200);
      const t0 = performance.now();
      c.abort();
      expect(await failure(p)).toBeInstanceOf(CancelledError);
      expect(performance.now() - t0).toBeLessThan(500);
      // Had the runtime kept waiting for the cancelled call, this request would queue behind it for 30 s.
      writeVolume(d, 0);
      const t1 = performance.now();
      expect(Number((await s.di.getImageData(id, 0, 5)).get('InstanceNumber'))).toBe(1);
      expect(performance.now() - t1).toBeLessThan(1500);
      // the same for watchFile
      await s.di.initWatch(d, '*.txt', 0);
      const c2 = new AbortController();
      const w = s.di.watchFile(path.join(d, 'late.txt'), 30, { signal: c2.signal });
      await sleep(100);
      c2.abort();
      expect(await failure(w)).toBeInstanceOf(CancelledError);
      fs.writeFileSync(path.join(d, 'now.txt'), 'now');
      expect(new TextDecoder().decode(await s.di.watchFile(path.join(d, 'now.txt'), 5))).toBe('now');
    });

    it('every method takes the options last', async () => {
      await make();
      const o = { timeout: 10 };
      fs.writeFileSync(path.join(d, 'a.txt'), 'a');
      expect(new TextDecoder().decode(await s.di.getFile(path.join(d, 'a.txt'), o))).toBe('a');
      expect(new TextDecoder().decode(await s.di.getNewestFile(path.join(d, '*.txt'), o))).toBe('a');
      await s.di.putFile(path.join(d, 'b.txt'), 'b', false, o);
      await s.di.putFile(path.join(d, 'c.txt'), 'c', o);
      expect(await s.di.listFiles(path.join(d, '*.txt'), o)).toHaveLength(3);
      expect(await s.di.listDirs(path.join(d, '*'), o)).toEqual([]);
      expect(await s.di.getAllowedFileTypes(o)).toEqual(['.dcm', '.txt']);
      expect(typeof (await s.di.getClockSkew(Date.now() / 1000, 0, o))).toBe('number');
      expect(typeof (await s.di.ping(o))).toBe('number');
      const id = await s.di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, o);
      await s.di.closeStream(id, o);
      await s.di.initWatch(d, '*.txt', 0, o);
      await expect(s.di.ping({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
      const bad = await failure(s.di.getFile(path.join(d, 'a.txt'), { rpc_timeout: 5 } as never));
      expect(bad).toBeInstanceOf(ValidationError);
      expect(bad.message).toMatch(/unknown option 'rpc_timeout'/);
    });

    it('a wrong argument type names the argument and what was expected', async () => {
      await make();
      const id = await s.di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0);
      const e = await failure(s.di.getImageData(String(id) as never));
      expect(e).toBeInstanceOf(ValidationError);
      expect(e.message).toMatch(/getImageData: argument 1 \(streamId\) must be a number \(the id initScannerStream returned\); got string/);
      expect((await failure(s.di.initWatch(d, 7 as never, 0))).message).toMatch(/initWatch: argument 2 \(filePattern\) must be a string/);
      expect((await failure(s.di.putFile(path.join(d, 'x.txt'), 7 as never))).message).toMatch(/putFile: argument 2 \(data\) must be a string, bytes/);
    });

    it('minFileSize larger than the file: the error names minFileSize and both sizes', async () => {
      await make();
      const f = writeVolume(d, 0);
      const size = fs.statSync(f).size;
      const id = await s.di.initScannerStream(d, 'vol_{TR:03d}.dcm', size * 2, false);
      const e = await failure(s.di.getImageData(id, 0, 0.5));
      expect(e).toBeInstanceOf(NotFoundError);
      expect(e.message).toContain('not found or corrupted');
      expect(e.message).toContain(`the file is ${size} bytes, smaller than minFileSize ${size * 2} bytes`);
    });

    it('initWatch with a full-path pattern in the watched folder; elsewhere a ValidationError naming both', async () => {
      await make();
      fs.mkdirSync(path.join(d, 'other'));
      await s.di.initWatch(d, path.join(d, 'vol_*'), 0);
      const e = await failure(s.di.initWatch(d, path.join(d, 'other', 'vol_*'), 0));
      expect(e).toBeInstanceOf(ValidationError);
      expect(e.message).toContain(path.join(d, 'other'));
      expect(e.message).toContain(`the watched folder ${d}`);
    });

    it('series discovery: initSeriesWatch + nextSeries follow the next run; a stream opens on it', async () => {
      await make();
      fs.mkdirSync(path.join(d, 'before'));
      expect(await s.di.initSeriesWatch(d)).toEqual([path.join(d, 'before')]);
      setTimeout(() => {
        fs.mkdirSync(path.join(d, 'run_07'));
        writeVolume(path.join(d, 'run_07'), 0, (n) => `001_000007_${String(n + 1).padStart(6, '0')}.dcm`);
      }, 100);
      const ser = await s.di.nextSeries(5);
      expect(ser).toMatchObject({ dir: path.join(d, 'run_07'), name: 'run_07', filePattern: '001_000007_{TR:06d}.dcm', firstIndex: 1 });
      const id = await s.di.initScannerStream(ser.dir, ser.filePattern!, 0, false);
      expect(Number((await s.di.getImageData(id, ser.firstIndex!, 5)).get('InstanceNumber'))).toBe(1);
      const t0 = performance.now();
      expect(await failure(s.di.nextSeries({ timeout: 0.3 }))).toBeInstanceOf(TimeoutError);
      expect(performance.now() - t0).toBeLessThan(2000);
      await s.di.closeSeriesWatch();
    });
  });
}

describe('local vs remote, and what to do when the runtime is away', () => {
  it('url/token without dataRemote: true is an error that says to add it', () => {
    expect(() => new DataInterface({ url: 'ws://127.0.0.1:8888', token: CLIENT_TOKEN })).toThrow(/url, token are options of a remote DataInterface, but dataRemote is not set.*add dataRemote: true/);
    expect(() => new DataInterface({ dataRemote: false, link: {} as never })).toThrow(/link is an option of a remote DataInterface, but dataRemote is false/);
    expect(() => new DataInterface({ dataRemote: 'yes' as never })).toThrow(/dataRemote must be true or false/);
  });

  it('DisconnectedError says to wait for the runtime (waitForRuntime) or check the relay URL', async () => {
    const relay = await hostRelay({ token: TOKEN });
    cleanups.push(() => relay.close());
    const di = new DataInterface({ dataRemote: true, url: relay.url, token: CLIENT_TOKEN, name: 'away' });
    cleanups.push(() => di.close());
    const e = await failure(di.ping());
    expect(e).toBeInstanceOf(DisconnectedError);
    expect(e.message).toMatch(/not connected: runtime 'away' is not connected/);
    expect(e.message).toContain('wait for the runtime with await di.waitForRuntime(seconds)');
    expect(e.message).toContain(`check the relay URL (${relay.url})`);
    expect(e.message).toContain('rtfmri serve --connect <relay url> --name away');
    const w = await failure(di.waitForRuntime(0.3));
    expect(w.message).toMatch(/waited 0\.3 s\); check the relay URL/);
    // a runtime that goes away during a wait: the pending call fails at once, with the same advice
    const d = dir();
    const rt = await startRuntimeServer({ connect: relay.url, name: 'away', token: TOKEN, allowedDirs: [d], allowedFileTypes: ['.dcm'] });
    await di.waitForRuntime(10);
    const id = await di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0);
    // The failure is caught from the start: it arrives while rt.close() is still being awaited.
    const pending = failure(di.getImageData(id, 0, 30));
    await sleep(200);
    await rt.close();
    const gone = await pending;
    expect(gone).toBeInstanceOf(DisconnectedError);
    expect(gone.message).toContain('waitForRuntime');
  });

  it("series discovery needs a 'read' token (folder names leave); a 'stream' token is refused", async () => {
    const d = dir();
    const relay = await hostRelay({ token: TOKEN });
    cleanups.push(() => relay.close());
    const rt = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [d], allowedFileTypes: ['.dcm'] });
    cleanups.push(() => rt.close());
    for (const [scope, ok] of [['read', true], ['stream', false]] as const) {
      const di = new DataInterface({ dataRemote: true, url: relay.url, token: mintClientToken(TOKEN, { methods: scope }), name: 'scanner1' });
      cleanups.push(() => di.close());
      await di.waitForRuntime(10);
      if (ok) expect(await di.initSeriesWatch(d)).toEqual([]);
      else expect((await failure(di.initSeriesWatch(d))).message).toMatch(/not allowed|unknown method|not exposed/i);
    }
  });

  it('a restarted runtime: the SDK sets the series watch up again and reports the run that started meanwhile, not the old ones', async () => {
    const d = dir();
    fs.mkdirSync(path.join(d, 'old'));
    const relay = await hostRelay({ token: TOKEN });
    cleanups.push(() => relay.close());
    let rt = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [d], allowedFileTypes: ['.dcm'] });
    const di = new DataInterface({ dataRemote: true, url: relay.url, token: CLIENT_TOKEN, name: 'scanner1' });
    cleanups.push(() => di.close());
    await di.waitForRuntime(10);
    await di.initSeriesWatch(d);
    fs.mkdirSync(path.join(d, 'run1'));
    writeVolume(path.join(d, 'run1'), 0);
    expect((await di.nextSeries(5)).name).toBe('run1');
    await rt.close();
    const stub = (await di.impl()) as { connected: boolean };
    for (let i = 0; i < 200 && stub.connected; i++) await sleep(20);
    expect(stub.connected).toBe(false);
    // while the runtime is away, run 2 starts
    fs.mkdirSync(path.join(d, 'run2'));
    writeVolume(path.join(d, 'run2'), 0);
    rt = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [d], allowedFileTypes: ['.dcm'] });
    cleanups.push(() => rt.close());
    await di.waitForRuntime(10);
    expect((await di.nextSeries(5)).name).toBe('run2');
    expect(await failure(di.nextSeries(0.3))).toBeInstanceOf(TimeoutError);
  });
});
