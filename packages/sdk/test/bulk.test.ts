// Issue 11: large files through the relay as flow-controlled streams, disk to disk, and what goes
// wrong on the way (a file that changes, a full disk, a peer that goes away): typed errors, no
// partial file under the final name, the runtime keeps serving.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFilesFromList, uploadFilesFromList, type FileStream } from '../src/index.js';
import { failure, setup, sleep, tmpDir, type Setup } from './harness.js';

const MiB = 1 << 20;

function content(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9 ^ seed;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  for (let i = size - (size % 4); i < size; i++) b[i] = i & 0xff;
  b[0] = 0xfe;
  return b;
}

const temps = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')) : []);

/** A DataInterface whose getFileStream runs `after(n)` once the n-th chunk was handed on. */
function hooked(s: Setup, after: (n: number) => void | Promise<void>) {
  return {
    getFile: (f: string) => s.di.getFile(f),
    async getFileStream(f: string) {
      const inner = await s.di.getFileStream(f);
      return {
        size: inner.size,
        async *[Symbol.asyncIterator]() {
          let n = 0;
          for await (const c of inner) {
            yield c;
            await after(++n);
          }
        },
      };
    },
  };
}

function mountSmall(dir: string, size: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('large files through the relay', () => {
  let A: string;
  let L: string;
  let s: Setup;
  beforeAll(async () => {
    A = tmpDir();
    L = tmpDir('rtfmri-local-');
    s = await setup('remote', { allowedDirs: [A], allowedFileTypes: ['.bin', '.txt'] });
  });
  afterAll(async () => {
    await s?.close();
    for (const d of [A, L]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('getFile returns the bytes of a 40 MiB file; getFileStream hands on 1 MiB chunks (for await, or readable())', async () => {
    const f = path.join(A, 'big.bin');
    const bytes = content(40 * MiB + 5);
    fs.writeFileSync(f, bytes);
    const got = await s.di.getFile(f);
    expect(got.constructor).toBe(Uint8Array);
    expect(got.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.length), bytes)).toBe(0);
    const st: FileStream = await s.di.getFileStream(f);
    expect(st.size).toBe(bytes.length);
    let off = 0;
    let chunks = 0;
    for await (const c of st) {
      expect(c.length).toBeLessThanOrEqual(MiB);
      expect(Buffer.compare(Buffer.from(c), bytes.subarray(off, off + c.length))).toBe(0);
      off += c.length;
      chunks++;
    }
    expect(off).toBe(bytes.length);
    expect(chunks).toBe(41);
    // The WHATWG form, as in a browser.
    const rs = (await s.di.getFileStream(f)).readable();
    const reader = rs.getReader();
    let n = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      n += r.value.length;
    }
    expect(n).toBe(bytes.length);
    // Stopping early tells the runtime to stop; it keeps serving.
    const early = await s.di.getFileStream(f);
    for await (const _c of early) break;
    early.cancel();
    expect(typeof (await s.di.ping())).toBe('number');
    // A small file is one chunk.
    fs.writeFileSync(path.join(A, 'small.txt'), 'hello');
    const one = await s.di.getFileStream(path.join(A, 'small.txt'));
    expect(one.size).toBe(5);
    const parts: Uint8Array[] = [];
    for await (const c of one) parts.push(c);
    expect(Buffer.concat(parts).toString()).toBe('hello');
  });

  it('putFile takes bytes, a long string, a Node Readable, an async iterable or { path }: each written whole, no temp file left', async () => {
    const bytes = content(6 * MiB + 3, 2);
    await s.di.putFile(path.join(A, 'p1.bin'), bytes);
    await s.di.putFile(path.join(A, 'p2.txt'), 'x'.repeat(3 * MiB));
    await s.di.putFile(path.join(A, 'p3.bin'), Readable.from([bytes.subarray(0, MiB), bytes.subarray(MiB)]));
    await s.di.putFile(path.join(A, 'p4.bin'), (async function* () { yield bytes.subarray(0, 10); yield bytes.subarray(10); })());
    const local = path.join(L, 'local.bin');
    fs.writeFileSync(local, bytes);
    await s.di.putFile(path.join(A, 'p5.bin'), { path: local });
    for (const n of ['p1.bin', 'p3.bin', 'p4.bin', 'p5.bin']) expect(Buffer.compare(fs.readFileSync(path.join(A, n)), bytes)).toBe(0);
    expect(fs.readFileSync(path.join(A, 'p2.txt'), 'utf8')).toBe('x'.repeat(3 * MiB));
    expect(temps(A)).toEqual([]);
    const e = await failure(s.di.putFile(path.join(A, 'p6.bin'), { path: path.join(L, 'missing.bin') }));
    expect(e).toMatchObject({ name: 'NotFoundError' });
    expect(fs.existsSync(path.join(A, 'p6.bin'))).toBe(false);
  });

  it('uploadFilesFromList and downloadFilesFromList copy a 48 MiB file byte-exact, disk to disk', async () => {
    const f = path.join(A, 'up.bin');
    const bytes = content(48 * MiB + 11, 3);
    fs.writeFileSync(f, bytes);
    const out = path.join(L, 'out');
    const [dest] = await uploadFilesFromList(s.di, [f], out);
    expect(dest).toBe(path.join(out, 'up.bin'));
    expect(Buffer.compare(fs.readFileSync(dest!), bytes)).toBe(0);
    expect(temps(out)).toEqual([]);
    await downloadFilesFromList(s.di, [dest!], path.join(A, 'back'));
    expect(Buffer.compare(fs.readFileSync(path.join(A, 'back', 'up.bin')), bytes)).toBe(0);
    expect(temps(path.join(A, 'back'))).toEqual([]);
  });

  it('a file that changes during uploadFilesFromList: StateError CHANGED, nothing under the final name, the runtime keeps serving', async () => {
    const f = path.join(A, 'moving.bin');
    fs.writeFileSync(f, content(24 * MiB, 4));
    const out = path.join(L, 'moving');
    // grows after the first chunk arrived here
    let e = await failure(uploadFilesFromList(hooked(s, (n) => void (n === 1 && fs.appendFileSync(f, 'more'))), [f], out));
    expect(e).toMatchObject({ name: 'StateError', code: 'STATE', details: { reason: 'CHANGED' } });
    expect(fs.existsSync(path.join(out, 'moving.bin'))).toBe(false);
    expect(temps(out)).toEqual([]);
    // shrinks
    fs.writeFileSync(f, content(24 * MiB, 4));
    e = await failure(uploadFilesFromList(hooked(s, (n) => void (n === 1 && fs.truncateSync(f, MiB))), [f], out));
    expect(e).toMatchObject({ name: 'StateError', details: { reason: 'CHANGED' } });
    expect(fs.existsSync(path.join(out, 'moving.bin'))).toBe(false);
    expect(temps(out)).toEqual([]);
    // The other way: a local file that grows while downloadFilesFromList sends it.
    const local = path.join(L, 'growing.bin');
    fs.writeFileSync(local, content(24 * MiB, 5));
    const grow = setInterval(() => fs.appendFileSync(local, 'x'), 1);
    try {
      e = await failure(downloadFilesFromList(s.di, [local], path.join(A, 'in')));
    } finally {
      clearInterval(grow);
    }
    expect(e).toMatchObject({ name: 'StateError', details: { reason: 'CHANGED' } });
    expect(fs.existsSync(path.join(A, 'in', 'growing.bin'))).toBe(false);
    await sleep(50);
    expect(temps(path.join(A, 'in'))).toEqual([]);
    expect(Buffer.compare(Buffer.from(await s.di.getFile(f)), content(24 * MiB, 4).subarray(0, MiB))).toBe(0);
  });

  it('a full disk at the destination (a small tmpfs): StateError ENOSPC both ways, nothing left behind, the runtime keeps serving', async (ctx) => {
    const here = path.join(L, 'full');
    const there = path.join(A, 'full');
    if (!mountSmall(here, '4m')) {
      console.warn('ENOSPC test skipped: cannot mount a small tmpfs here (needs root)');
      ctx.skip();
      return;
    }
    try {
      if (!mountSmall(there, '4m')) {
        console.warn('ENOSPC test skipped: cannot mount a second small tmpfs');
        ctx.skip();
        return;
      }
      try {
        const f = path.join(A, 'twelve.bin');
        fs.writeFileSync(f, content(12 * MiB, 6));
        let e = await failure(uploadFilesFromList(s.di, [f], here));
        expect(e).toMatchObject({ name: 'StateError', code: 'STATE', details: { reason: 'ENOSPC' } });
        expect(e.message).toMatch(/no space left/);
        expect(fs.readdirSync(here)).toEqual([]);
        const local = path.join(L, 'twelve.bin');
        fs.writeFileSync(local, content(12 * MiB, 6));
        e = await failure(downloadFilesFromList(s.di, [local], there));
        expect(e).toMatchObject({ name: 'StateError', code: 'STATE', details: { reason: 'ENOSPC' } });
        await sleep(50);
        expect(fs.readdirSync(there)).toEqual([]);
        // Still serving, the same client and the same session.
        expect(Buffer.compare(Buffer.from(await s.di.getFile(f)), content(12 * MiB, 6))).toBe(0);
      } finally {
        execFileSync('umount', [there], { stdio: 'ignore' });
      }
    } finally {
      execFileSync('umount', [here], { stdio: 'ignore' });
    }
  });
});

describe('a peer that goes away mid-file', () => {
  it('the experiment disconnects during a getFile stream and during a putFile: the runtime drops the temp file and keeps serving', async () => {
    const A = tmpDir();
    const s = await setup('remote', { allowedDirs: [A], allowedFileTypes: ['.bin'] });
    try {
      const f = path.join(A, 'big.bin');
      fs.writeFileSync(f, content(32 * MiB, 7));
      // getFileStream, one chunk read, then this client is gone.
      const st = await s.di.getFileStream(f);
      const it = st[Symbol.asyncIterator]();
      await it.next();
      // putFile, one chunk sent, then gone.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const put = s.di.putFile(path.join(A, 'half.bin'), (async function* () { yield content(MiB, 8); await gate; yield content(MiB, 9); })());
      put.catch(() => undefined);
      await sleep(150);
      expect(temps(A).length).toBe(1);
      await s.di.close();
      release();
      const e = await failure(put);
      expect(e).toMatchObject({ name: 'DisconnectedError' });
      const e2 = await failure((async () => { for (;;) if ((await it.next()).done) return; })());
      expect(e2).toMatchObject({ name: 'DisconnectedError' });
      await sleep(200);
      expect(fs.existsSync(path.join(A, 'half.bin'))).toBe(false);
      expect(temps(A)).toEqual([]);
      // A new client is served by the same runtime.
      const { DataInterface } = await import('../src/index.js');
      const { CLIENT_TOKEN } = await import('./harness.js');
      const di2 = new DataInterface({ dataRemote: true, url: s.relay!.url, token: CLIENT_TOKEN, name: 'scanner1' });
      await di2.waitForRuntime(10);
      expect(Buffer.compare(Buffer.from(await di2.getFile(f)), content(32 * MiB, 7))).toBe(0);
      await di2.close();
    } finally {
      await s.runtime?.close();
      await s.relay?.close();
      fs.rmSync(A, { recursive: true, force: true });
    }
  });

  it('the runtime goes away during uploadFilesFromList: DisconnectedError, nothing under the final name here', async () => {
    const A = tmpDir();
    const L = tmpDir('rtfmri-local-');
    const s = await setup('remote', { allowedDirs: [A], allowedFileTypes: ['.bin'] });
    try {
      const f = path.join(A, 'big.bin');
      fs.writeFileSync(f, content(32 * MiB, 10));
      const e = await failure(uploadFilesFromList(hooked(s, async (n) => { if (n === 1) await s.runtime!.close(); }), [f], L));
      expect(e).toMatchObject({ name: 'DisconnectedError' });
      expect(fs.existsSync(path.join(L, 'big.bin'))).toBe(false);
      expect(temps(L)).toEqual([]);
    } finally {
      await s.di.close();
      await s.relay?.close();
      for (const d of [A, L]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
