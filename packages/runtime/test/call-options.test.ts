// Issue 13: initWatch with a full-path pattern, the per-call options argument ({ timeout, signal })
// on every method, and errors that say what is wrong (minFileSize, argument types, remote options).
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '@rtfmri/transport';
import { DataInterface, NotFoundError, StateError, TimeoutError, ValidationError } from '../src/index.js';
import { mosaic } from './data.js';
import { rmrf, sleep, tmpDir } from './util.js';

const RAW = { phi: 'allow-raw', log: () => {} } as const;

let A: string;
let di: DataInterface;
beforeEach(() => {
  A = tmpDir();
  di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm', '.txt'], pollIntervalMs: 100, ...RAW });
});
afterEach(async () => {
  await di.close();
  rmrf(A);
});

const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: Error) => e);

describe('initWatch: absolute patterns', () => {
  it('a full-path pattern whose folder is the watched folder is accepted (rt-cloud passes /dir/001_000013_000005*)', async () => {
    await di.initWatch(A, path.join(A, '001_000013_000005*'), 0);
    fs.writeFileSync(path.join(A, 'x.txt'), 'hello');
    expect(new TextDecoder().decode(await di.watchFile(path.join(A, 'x.txt'), 2))).toBe('hello');
    // `..` and a relative folder part that resolve to the watched folder itself are the same folder
    fs.mkdirSync(path.join(A, 'sub'));
    await di.initWatch(A, path.join(A, 'sub', '..', '*.dcm'), 0);
    await di.initWatch(A, './*.dcm', 0);
  });

  it('a symlinked path to the watched folder counts as the folder (resolved before the comparison)', async () => {
    fs.mkdirSync(path.join(A, 'real'));
    fs.symlinkSync(path.join(A, 'real'), path.join(A, 'link'));
    await di.initWatch(path.join(A, 'real'), path.join(A, 'link', '*.txt'), 0);
    await di.initWatch(path.join(A, 'link'), path.join(A, 'real', '*.txt'), 0);
  });

  it('a pattern in another folder is a ValidationError naming both folders', async () => {
    fs.mkdirSync(path.join(A, 'other'));
    fs.mkdirSync(path.join(A, 'sub'));
    const e = await fail(di.initWatch(A, path.join(A, 'other', '*.dcm'), 0));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toContain(path.join(A, 'other'));
    expect(e.message).toContain(`watched folder ${A}`);
    // a subfolder: watches are flat
    const sub = await fail(di.initWatch(A, path.join(A, 'sub', '*.dcm'), 0));
    expect(sub.message).toMatch(/subfolder/);
    // outside the allowed dirs entirely
    const out = await fail(di.initWatch(A, '/etc/*.dcm', 0));
    expect(out).toBeInstanceOf(ValidationError);
    expect(out.message).toContain('/etc');
    expect(out.message).toContain(A);
    // a wildcard in the folder part
    const wild = await fail(di.initWatch(A, path.join(A, '*', 'x.dcm'), 0));
    expect(wild.message).toMatch(/wildcard in its folder part/);
    // the file part's type is still checked
    await expect(di.initWatch(A, path.join(A, 'x.exe'), 0)).rejects.toThrow(/File type/);
  });
});

describe('per-call options { timeout, signal }', () => {
  it('getImageData(id, { timeout }) waits like getImageData(id, null, timeout); options.timeout caps a longer wait', async () => {
    const id = await di.initScannerStream(A, 'v_{TR:03d}.dcm', 0, false);
    let t0 = performance.now();
    let e = await fail(di.getImageData(id, { timeout: 0.3 }));
    expect(e).toBeInstanceOf(NotFoundError);
    expect(performance.now() - t0).toBeGreaterThan(250);
    expect(performance.now() - t0).toBeLessThan(1500);
    t0 = performance.now();
    e = await fail(di.getImageData(id, null, 30, { timeout: 0.3 }));
    expect(e).toBeInstanceOf(NotFoundError);
    expect(performance.now() - t0).toBeLessThan(1500);
    // DESIGN's positional form is unchanged
    fs.writeFileSync(path.join(A, 'v_000.dcm'), await mosaic(0));
    expect((await di.getImageData(id, null, 30)).get('InstanceNumber')).toBeDefined();
    fs.writeFileSync(path.join(A, 'v_001.dcm'), await mosaic(1));
    expect((await di.getImageData(id, { timeout: 5 })).get('InstanceNumber')).toBeDefined();
  });

  it('signal: an aborted wait rejects at once with CancelledError and the stream takes the next request', async () => {
    const id = await di.initScannerStream(A, 'v_{TR:03d}.dcm', 0, false);
    const c = new AbortController();
    const t0 = performance.now();
    const p = fail(di.getImageData(id, 0, 30, { signal: c.signal }));
    // a second request queued behind it, also cancelled while queued
    const c2 = new AbortController();
    const q = fail(di.getImageData(id, 1, 30, { signal: c2.signal }));
    setTimeout(() => { c.abort(); c2.abort(); }, 100);
    expect(await p).toBeInstanceOf(CancelledError);
    expect(await q).toBeInstanceOf(CancelledError);
    expect(performance.now() - t0).toBeLessThan(1000);
    // the actor is free: the next request is served
    fs.writeFileSync(path.join(A, 'v_000.dcm'), await mosaic(0));
    expect((await di.getImageData(id, 0, 5)).bytes.length).toBeGreaterThan(0);
    // an already-aborted signal: refused before anything runs
    const gone = AbortSignal.abort();
    expect(await fail(di.getImageData(id, 0, 5, { signal: gone }))).toBeInstanceOf(CancelledError);
    // the abort reason, when it is an Error, is what the call rejects with
    const c3 = new AbortController();
    const r = fail(di.getImageData(id, 9, 30, { signal: c3.signal }));
    c3.abort(new TimeoutError('my own deadline'));
    expect((await r).message).toBe('my own deadline');
  });

  it('watchFile and nextSeries take the options too; every method accepts them last', async () => {
    await di.initWatch(A, '*.txt', 0);
    const t0 = performance.now();
    expect(await fail(di.watchFile('late.txt', { timeout: 0.2 }))).toBeInstanceOf(TimeoutError);
    expect(performance.now() - t0).toBeLessThan(1500);
    const c = new AbortController();
    const w = fail(di.watchFile('late.txt', 30, { signal: c.signal }));
    c.abort();
    expect(await w).toBeInstanceOf(CancelledError);
    const o = { timeout: 5 };
    fs.writeFileSync(path.join(A, 'a.txt'), 'a');
    expect(new TextDecoder().decode(await di.getFile(path.join(A, 'a.txt'), o))).toBe('a');
    expect(new TextDecoder().decode(await di.getNewestFile(path.join(A, '*.txt'), o))).toBe('a');
    await di.putFile(path.join(A, 'b.txt'), 'b', false, o);
    await di.putFile(path.join(A, 'c.txt'), 'c', o);
    expect(await di.listFiles(path.join(A, '*.txt'), o)).toEqual(['a.txt', 'b.txt', 'c.txt'].map((n) => path.join(A, n)));
    expect(await di.listDirs(path.join(A, '*'), o)).toEqual([]);
    expect(await di.getAllowedFileTypes(o)).toEqual(['.dcm', '.txt']);
    expect(typeof (await di.getClockSkew(Date.now() / 1000, 0, o))).toBe('number');
    expect(typeof (await di.ping(o))).toBe('number');
    const id = await di.initScannerStream(A, 'v_{TR}.dcm', 0, o);
    await di.closeStream(id, o);
    await di.initWatch(A, '*.dcm', 0, o);
    // an aborted signal refuses any method at once
    await expect(di.ping({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
  });

  it('bad options: unknown keys and wrong types say what the options are', async () => {
    const e = await fail(di.getFile(path.join(A, 'a.txt'), { rpc_timeout: 5 } as never));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toMatch(/unknown option 'rpc_timeout'.*\{ timeout\?: seconds, signal\?: AbortSignal \}/);
    expect((await fail(di.ping({ timeout: -1 }))).message).toMatch(/options\.timeout must be a number of seconds > 0/);
    expect((await fail(di.ping({ signal: 'x' } as never))).message).toMatch(/options\.signal must be an AbortSignal/);
  });
});

describe('errors that say what is wrong', () => {
  it('minFileSize larger than the file: names minFileSize and both sizes, keeps "not found or corrupted"', async () => {
    const bytes = await mosaic(0);
    fs.writeFileSync(path.join(A, 'v_000.dcm'), bytes);
    const id = await di.initScannerStream(A, 'v_{TR:03d}.dcm', bytes.length + 1000, false);
    const e = await fail(di.getImageData(id, 0, 0.4));
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toMatch(/not found or corrupted/);
    expect(e.message).toContain(`the file is ${bytes.length} bytes, smaller than minFileSize ${bytes.length + 1000} bytes`);
    expect((e as NotFoundError).details).toMatchObject({ reason: 'MIN_FILE_SIZE', size: bytes.length, minFileSize: bytes.length + 1000 });
    // watches too
    fs.writeFileSync(path.join(A, 'small.txt'), 'tiny');
    await di.initWatch(A, '*.txt', 100);
    const w = await fail(di.watchFile('small.txt', 0.3));
    expect(w).toBeInstanceOf(TimeoutError);
    expect(w.message).toMatch(/WatchFile: Timeout.*the file is 4 bytes, smaller than minFileSize 100 bytes/);
    // a missing file and a cut one say so too
    const m = await fail(di.getImageData(id, 7, 0.2));
    expect(m.message).toMatch(/not found or corrupted \(no such file in .* yet\)/);
    fs.writeFileSync(path.join(A, 'c_000.dcm'), bytes.subarray(0, 300_000));
    const cut = await di.initScannerStream(A, 'c_{TR:03d}.dcm', 0, false);
    expect((await fail(di.getImageData(cut, 0, 0.3))).message).toMatch(/not found or corrupted: the file is there \(300000 bytes\) but not a whole DICOM file/);
  });

  it('a wrong argument type names the argument and what was expected', async () => {
    const id = await di.initScannerStream(A, 'v_{TR:03d}.dcm', 0);
    const cases: Array<[Promise<unknown>, RegExp]> = [
      [di.getImageData('1' as never), /getImageData: argument 1 \(streamId\) must be a number \(the id initScannerStream returned\); got string '1'/],
      [di.getImageData(id, '2' as never), /argument 2 \(imageIndex\) must be an integer >= 0, or null for the next image; got string '2'/],
      [di.getImageData(id, null, '5' as never), /argument 3 \(timeout\) must be a number of seconds/],
      [di.initScannerStream(5 as never, 'v_{TR}.dcm', 0), /initScannerStream: argument 1 \(imgDir\) must be a string \(the absolute path of the image folder\); got number 5/],
      [di.initScannerStream(A, 'v_{TR}.dcm', '300' as never), /argument 3 \(minFileSize\) must be a number of bytes >= 0; got string '300'/],
      [di.initScannerStream(A, 'v_{TR}.dcm', 0, 'yes' as never), /argument 4 \(anonymize\) must be a boolean; got string 'yes'/],
      [di.initWatch(A, 42 as never, 0), /initWatch: argument 2 \(filePattern\) must be a string/],
      [di.putFile(path.join(A, 'x.txt'), 42 as never), /putFile: argument 2 \(data\) must be a string, bytes/],
      [di.getFile(undefined as never), /getFile: argument 1 \(filename\) must be a string \(an absolute file path\); got undefined/],
      [di.getClockSkew('now' as never, 0), /getClockSkew: argument 1 \(callerClockTime\) must be a number/],
    ];
    for (const [p, re] of cases) {
      const e = await fail(p);
      expect(e, String(re)).toBeInstanceOf(ValidationError);
      expect(e.message).toMatch(re);
    }
  });

  it('remote-only options (url, token, ...) on the local DataInterface are refused with what to do', () => {
    expect(() => new DataInterface({ allowedDirs: [A], url: 'ws://x', token: 't' } as never)).toThrow(/url, token: these are options of a remote DataInterface.*dataRemote: true/);
  });
});

describe('locked files (EBUSY; EPERM/EACCES on Windows and shares) are waited for', () => {
  it('a stream waits while opening its file fails with EBUSY, then delivers it', async () => {
    const bytes = await mosaic(3);
    const file = path.join(A, 'v_000.dcm');
    fs.writeFileSync(file, bytes);
    const inline = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm'], pollIntervalMs: 50, work: 'inline', ...RAW });
    const open = fs.openSync;
    let refused = 0;
    // The writer holds the file (Windows' sharing violation): simulated on this file's opens for 300 ms.
    const until = performance.now() + 300;
    (fs as { openSync: typeof fs.openSync }).openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
      if (String(p) === file && performance.now() < until) {
        refused++;
        throw Object.assign(new Error(`EBUSY: resource busy or locked, open '${file}'`), { code: 'EBUSY', errno: -16, syscall: 'open', path: file });
      }
      return (open as (...a: unknown[]) => number)(p, ...rest);
    }) as typeof fs.openSync;
    try {
      const id = await inline.initScannerStream(A, 'v_{TR:03d}.dcm', 0, false);
      const t0 = performance.now();
      const ds = await inline.getImageData(id, 0, 5);
      expect(Buffer.compare(Buffer.from(ds.toBytes()), Buffer.from(bytes))).toBe(0);
      expect(refused).toBeGreaterThan(0);
      expect(performance.now() - t0).toBeGreaterThan(200);
      // a file that stays locked: the timeout says so
      const f2 = path.join(A, 'v_001.dcm');
      fs.writeFileSync(f2, bytes);
      (fs as { openSync: typeof fs.openSync }).openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
        if (String(p) === f2) throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' });
        return (open as (...a: unknown[]) => number)(p, ...rest);
      }) as typeof fs.openSync;
      const e = await fail(inline.getImageData(id, 1, 0.4));
      expect(e).toBeInstanceOf(NotFoundError);
      expect(e.message).toMatch(/not found or corrupted: the file stayed locked by another program \(EBUSY\)/);
      // EACCES on a local Linux disk is a real refusal, at once
      (fs as { openSync: typeof fs.openSync }).openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
        if (String(p) === f2) throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
        return (open as (...a: unknown[]) => number)(p, ...rest);
      }) as typeof fs.openSync;
      const t1 = performance.now();
      const denied = await fail(inline.getImageData(id, 1, 5));
      expect(denied).toBeInstanceOf(ValidationError);
      expect(denied.message).toMatch(/permission denied/);
      expect(performance.now() - t1).toBeLessThan(1000);
    } finally {
      (fs as { openSync: typeof fs.openSync }).openSync = open;
      await inline.close();
    }
  });

  it('closing a stream ends a wait on a locked file (StateError), as any wait', async () => {
    const id = await di.initScannerStream(A, 'v_{TR:03d}.dcm', 0, false);
    const p = fail(di.getImageData(id, 0, 30));
    await sleep(50);
    await di.closeStream(id);
    expect(await p).toBeInstanceOf(StateError);
  });
});
