// Issue 10, "Bombs and unbounded inputs" (the runtime's part): pattern widths, timeouts, indexes,
// and typed errors for the file system's failures (nothing untyped crosses the wire).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalLinkPair, RpcPeer } from '@rtfmri/transport';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { DataInterface, MAX_TIMEOUT_SEC, MAX_TR_WIDTH, NotFoundError, StateError, ValidationError, compileFilePattern, serveSession } from '../src/index.js';
import { rmrf, sleep, tmpDir } from './util.js';

const TYPED = ['ValidationError', 'NotFoundError', 'TimeoutError', 'StateError'];

describe('bounded inputs', () => {
  let A: string;
  let di: DataInterface;
  beforeEach(() => {
    A = tmpDir();
    di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm', '.txt'] });
  });
  afterEach(async () => {
    await di.close();
    rmrf(A);
  });

  it('{TR:0Nd}: N is at most MAX_TR_WIDTH; a huge width is a ValidationError without allocating', async () => {
    expect(MAX_TR_WIDTH).toBe(32);
    expect(compileFilePattern(`s_{TR:0${MAX_TR_WIDTH}d}.dcm`)(7)).toBe(`s_${'7'.padStart(32, '0')}.dcm`);
    expect(() => compileFilePattern('s_{TR:033d}.dcm')).toThrow(ValidationError);
    const heap = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    await expect(di.initScannerStream(A, 's_{TR:0500000000d}.dcm', 0)).rejects.toThrow(/width/);
    expect(() => compileFilePattern('s_{TR:99999999999999999999999d}.dcm')).toThrow(/width/);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(50 * 1024 * 1024);
    // a pattern longer than a file name can be
    await expect(di.initScannerStream(A, `${'p'.repeat(300)}_{TR}.dcm`, 0)).rejects.toBeInstanceOf(ValidationError);
  });

  it('timeouts beyond MAX_TIMEOUT_SEC (2^31 ms and more, Infinity) are clamped: the wait does not fail at once', async () => {
    expect(MAX_TIMEOUT_SEC).toBe(86_400);
    const id = await di.initScannerStream(A, 'v_{TR}.dcm', 0, false);
    await di.initWatch(A, '*.txt', 0);
    for (const timeout of [2 ** 31 / 1000, 1e7, Number.MAX_VALUE, Infinity]) {
      const img = di.getImageData(id, 0, timeout).then(() => 'delivered', (e: Error) => `failed: ${e.message}`);
      const watch = di.watchFile('w.txt', timeout).then(() => 'delivered', (e: Error) => `failed: ${e.message}`);
      const state = await Promise.race([Promise.all([img, watch]), sleep(300).then(() => 'still waiting')]);
      expect(state, `timeout ${timeout}`).toBe('still waiting');
      // deliver, so the queued requests end
      fs.writeFileSync(path.join(A, 'v_0.dcm'), syntheticEpiVolume(0, { tile: 16, slices: 4, seriesHeaderBytes: 2000 }));
      fs.writeFileSync(path.join(A, 'w.txt'), 'w');
      expect(await Promise.all([img, watch])).toEqual(['delivered', 'delivered']);
      fs.rmSync(path.join(A, 'v_0.dcm'));
      fs.rmSync(path.join(A, 'w.txt'));
    }
    for (const bad of [NaN, -1, 0, '5', null as unknown as number]) {
      if (bad === null) continue; // null means "the default"
      await expect(di.getImageData(id, 0, bad as number)).rejects.toBeInstanceOf(ValidationError);
    }
  });

  it('imageIndex and demoStep are bounded', async () => {
    const id = await di.initScannerStream(A, 'v_{TR}.dcm', 0, false);
    await expect(di.getImageData(id, 1e300, 0.1)).rejects.toBeInstanceOf(ValidationError);
    await expect(di.getImageData(id, Number.MAX_SAFE_INTEGER + 1, 0.1)).rejects.toBeInstanceOf(ValidationError);
    await expect(di.initScannerStream(A, 'v_{TR}.dcm', 0, false, 1e9)).rejects.toBeInstanceOf(ValidationError);
    await expect(di.initWatch(A, '*.txt', 0, 1e9)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('typed errors for file-system failures', () => {
  let A: string;
  let di: DataInterface;
  beforeEach(() => {
    A = tmpDir();
    di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm', '.txt', '.bin'] });
  });
  afterEach(async () => {
    await di.close();
    rmrf(A);
  });

  const reason = async (p: Promise<unknown>) => {
    const e = (await p.then(() => null, (x: unknown) => x)) as (Error & { code?: string; details?: { reason?: string } }) | null;
    expect(e, 'expected a rejection').not.toBeNull();
    expect(TYPED, `${e!.name}: ${e!.message}`).toContain(e!.name);
    return { name: e!.name, code: e!.code, reason: e!.details?.reason, message: e!.message };
  };

  it('a parent that is a file, a symlink loop, a name taken by a folder', async () => {
    fs.writeFileSync(path.join(A, 'file.txt'), 'f');
    expect(await reason(di.putFile(path.join(A, 'file.txt', 'under.txt'), 'x'))).toMatchObject({ name: 'ValidationError', reason: 'ENOTDIR' });
    fs.symlinkSync(path.join(A, 'loop.txt'), path.join(A, 'loop.txt'));
    expect(await reason(di.getFile(path.join(A, 'loop.txt')))).toMatchObject({ name: 'ValidationError', reason: 'ELOOP' });
    expect(await reason(di.putFile(path.join(A, 'loop.txt', 'x.txt'), 'x'))).toMatchObject({ name: 'ValidationError' });
    fs.mkdirSync(path.join(A, 'taken.txt'));
    expect(await reason(di.putFile(path.join(A, 'taken.txt'), 'x'))).toMatchObject({ name: 'ValidationError', reason: 'EISDIR' });
    expect(fs.readdirSync(A).sort()).toEqual(['file.txt', 'loop.txt', 'taken.txt']);
  });

  it('permission denied is a ValidationError (EACCES)', async () => {
    if (process.getuid?.() !== 0) {
      fs.writeFileSync(path.join(A, 'locked.txt'), 'x');
      fs.chmodSync(path.join(A, 'locked.txt'), 0);
      expect(await reason(di.getFile(path.join(A, 'locked.txt')))).toMatchObject({ name: 'ValidationError', reason: 'EACCES' });
      return;
    }
    // Root reads everything: the same call runs in a child process as 'nobody' (setpriv), on the
    // built runtime, against a folder it may enter and a file it may not read.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-eacces-'));
    try {
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(path.join(dir, 'locked.txt'), 'x', { mode: 0 });
      const runtime = path.resolve(fileURLToPath(import.meta.url), '../../dist/index.js');
      const script = `const { DataInterface } = await import(${JSON.stringify(runtime)});
const di = new DataInterface({ allowedDirs: [${JSON.stringify(dir)}], allowedFileTypes: ['.txt'] });
try { await di.getFile(${JSON.stringify(path.join(dir, 'locked.txt'))}); console.log('{"read":true}'); }
catch (e) { console.log(JSON.stringify({ name: e.name, reason: e.details?.reason })); }
await di.close();`;
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ name: 'ValidationError', reason: 'EACCES' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ENOSPC: a full disk is a StateError with reason ENOSPC, and no partial file is left', async (ctx) => {
    const mnt = path.join(A, 'small');
    fs.mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      console.warn('ENOSPC test skipped: cannot mount a small tmpfs here (needs root)');
      ctx.skip();
      return;
    }
    try {
      const e = await reason(di.putFile(path.join(mnt, 'big.bin'), new Uint8Array(256 * 1024)));
      expect(e).toMatchObject({ name: 'StateError', code: 'STATE', reason: 'ENOSPC' });
      expect(e.message).toMatch(/no space left/i);
      expect(fs.readdirSync(mnt)).toEqual([]);
    } finally {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
    }
  });

  it('over the wire, every refusal arrives as a typed error (never RemoteError)', async () => {
    const [server, client] = createLocalLinkPair();
    serveSession(di, server);
    const peer = new RpcPeer(client);
    try {
      fs.symlinkSync(path.join(A, 'loop.txt'), path.join(A, 'loop.txt'));
      fs.writeFileSync(path.join(A, 'file.txt'), 'f');
      const calls: Array<[string, unknown[]]> = [
        ['getFile', [path.join(A, 'loop.txt')]],
        ['getFile', [path.join(A, 'missing.txt')]],
        ['putFile', [path.join(A, 'file.txt', 'x.txt'), 'x']],
        ['getNewestFile', [path.join(A, 'loop.txt')]],
        ['listFiles', [path.join(A, 'loop.txt', '*.txt')]],
        ['initScannerStream', [A, 's_{TR:0500000000d}.dcm', 0]],
        ['getImageData', [12345]],
        ['watchFile', ['x.txt']],
      ];
      for (const [m, args] of calls) {
        const e = (await peer.call(m, args).then(() => null, (x: unknown) => x)) as Error | null;
        if (e === null) continue; // some calls legitimately succeed (e.g. an empty listing)
        expect(TYPED, `${m}: ${e.name}: ${e.message}`).toContain(e.name);
      }
    } finally {
      peer.close('done');
    }
  });

  it('errors keep their classes in process too', async () => {
    await expect(di.getFile(path.join(A, 'nope.txt'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(di.getImageData(777)).rejects.toBeInstanceOf(StateError);
  });
});
