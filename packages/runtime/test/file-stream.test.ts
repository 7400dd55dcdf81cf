// Issue 11: large files in chunks, off the event loop. Remote calls go through serveSession and
// the transport's RPC over a local link pair (the path a relay session takes).
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as dicom from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { ByteStream, createLocalLinkPair, IncomingStream, RpcPeer } from '@rtfmri/transport';
import { DataInterface, serveSession, type DataInterfaceOptions } from '../src/index.js';
import { rmrf, sleep, tmpDir } from './util.js';

const MiB = 1 << 20;

/** Random-looking bytes (not DICOM: no data set start), reproducible. */
function content(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9 ^ seed;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, Math.min(i, size - 4));
  }
  b[0] = 0xfe; // never a data set's first group
  return b;
}

function remoteOf(di: DataInterface): { peer: RpcPeer; close(): void } {
  const [server, client] = createLocalLinkPair();
  serveSession(di, server);
  const peer = new RpcPeer(client);
  return { peer, close: () => peer.close('test done') };
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string; details?: { reason?: string } }> {
  try {
    await p;
  } catch (e) {
    return e as never;
  }
  throw new Error('expected a rejection');
}

async function collect(s: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; chunks: number }> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return { bytes: Buffer.concat(parts), chunks: parts.length };
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;
const temps = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));

describe('large files: chunks off the event loop, streams on the wire', () => {
  let A: string;
  let di: DataInterface;
  const make = (o: Partial<DataInterfaceOptions> = {}) => (di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.bin', '.dcm', '.txt'], work: 'inline', ...o }));
  beforeEach(() => {
    A = tmpDir();
  });
  afterEach(async () => {
    await di?.close();
    rmrf(A);
  });

  it('a remote getFile of a large non-DICOM file answers { size, stream } and the stream is the file, in 1 MiB chunks', async () => {
    make();
    const f = path.join(A, 'big.bin');
    const bytes = content(9 * MiB + 123);
    fs.writeFileSync(f, bytes);
    const r = remoteOf(di);
    const small = path.join(A, 'small.bin');
    fs.writeFileSync(small, content(MiB, 2));
    // Up to 1 MiB: bytes, as before.
    expect(Buffer.compare(Buffer.from((await r.peer.call('getFile', [small])) as Uint8Array), content(MiB, 2))).toBe(0);
    const got = (await r.peer.call('getFile', [f])) as { size: number; stream: IncomingStream };
    expect(got.size).toBe(bytes.length);
    expect(got.stream).toBeInstanceOf(IncomingStream);
    const { bytes: back, chunks } = await collect(got.stream);
    expect(Buffer.compare(back, bytes)).toBe(0);
    expect(chunks).toBe(10);
    // getNewestFile takes the same route.
    const newest = (await r.peer.call('getNewestFile', [path.join(A, '*.bin')])) as { size: number; stream: IncomingStream } | Uint8Array;
    const nb = newest instanceof Uint8Array ? Buffer.from(newest) : (await collect(newest.stream)).bytes;
    expect([bytes.length, MiB]).toContain(nb.length);
    r.close();
  });

  it('PHI: a DICOM file above 1 MiB is still anonymized in memory and answered as bytes; under allow-raw it streams raw and is logged', async () => {
    const lines: string[] = [];
    make({ log: (l) => lines.push(l) });
    const f = path.join(A, 'big.dcm');
    const vol = syntheticEpiVolume(3, { tile: 128, slices: 49, volumes: 5 });
    expect(vol.length).toBeGreaterThan(MiB);
    fs.writeFileSync(f, vol);
    const r = remoteOf(di);
    const out = (await r.peer.call('getFile', [f])) as Uint8Array;
    expect(out).toBeInstanceOf(Uint8Array);
    const ds = dicom.parseDicom(out);
    expect(String(ds.get('PatientName') ?? '')).not.toBe(String(dicom.parseDicom(vol).get('PatientName')));
    expect(String(ds.get('InstanceNumber'))).toBe(String(dicom.parseDicom(vol).get('InstanceNumber')));
    r.close();
    await di.close();
    make({ phi: 'allow-raw', log: (l) => lines.push(l) });
    const r2 = remoteOf(di);
    const raw = (await r2.peer.call('getFile', [f])) as { size: number; stream: IncomingStream };
    expect(raw.size).toBe(vol.length);
    expect(Buffer.compare((await collect(raw.stream)).bytes, Buffer.from(vol))).toBe(0);
    expect(lines.some((l) => l.includes('raw DICOM sent') && l.includes('getFile') && l.includes(f))).toBe(true);
    r2.close();
  });

  it('reading 256 MiB never blocks the event loop for long (a synchronous read of it: hundreds of ms)', async () => {
    make();
    const f = path.join(A, 'huge.bin');
    const block = content(16 * MiB, 3);
    const fd = fs.openSync(f, 'w');
    for (let i = 0; i < 16; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);
    let last = performance.now();
    let worst = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 1);
    try {
      // In process: getFile returns the bytes (read in chunks), getFileStream the chunks.
      const all = await di.getFile(f);
      expect(all.length).toBe(256 * MiB);
      const s = await di.getFileStream(f);
      let n = 0;
      for await (const c of s) n += c.length;
      expect(n).toBe(256 * MiB);
    } finally {
      clearInterval(tick);
    }
    // The largest single step is one 1 MiB chunk plus a collection: far below the ~0.1-3 s a
    // synchronous read of the whole file stalls the loop (the link's liveness allows 4 s).
    expect(worst).toBeLessThan(250);
  });

  it('a file that grows or shrinks while it is read fails the stream with StateError CHANGED; the descriptor is closed', async () => {
    make();
    const f = path.join(A, 'moving.bin');
    fs.writeFileSync(f, content(40 * MiB));
    const r = remoteOf(di);
    const fds = openFds();
    // Grows: the reader takes one chunk, the file gets longer, the end check refuses the mix.
    let got = (await r.peer.call('getFile', [f])) as { size: number; stream: IncomingStream };
    let it = got.stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    fs.appendFileSync(f, 'more');
    let e = await failure((async () => { for (;;) if ((await it.next()).done) return; })());
    expect(e).toMatchObject({ name: 'StateError', code: 'STATE', details: { reason: 'CHANGED' } });
    expect(e.message).toMatch(/changed during the transfer/);
    // Shrinks: the runtime's next read comes up short.
    fs.writeFileSync(f, content(40 * MiB));
    got = (await r.peer.call('getFile', [f])) as { size: number; stream: IncomingStream };
    it = got.stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    fs.truncateSync(f, 2 * MiB);
    e = await failure((async () => { for (;;) if ((await it.next()).done) return; })());
    expect(e).toMatchObject({ name: 'StateError', details: { reason: 'CHANGED' } });
    // In process too.
    fs.writeFileSync(f, content(8 * MiB));
    const s = await di.getFileStream(f);
    const li = s[Symbol.asyncIterator]();
    await li.next();
    fs.appendFileSync(f, 'x');
    e = await failure((async () => { for (;;) if ((await li.next()).done) return; })());
    expect(e).toMatchObject({ name: 'StateError', details: { reason: 'CHANGED' } });
    // A stream read part way and dropped, and one never read (closed), give their descriptors back.
    const part = await di.getFileStream(f);
    for await (const _c of part) break;
    (await di.getFileStream(f)).close();
    await sleep(50);
    expect(openFds()).toBeLessThanOrEqual(fds);
    // The runtime keeps serving.
    expect(((await r.peer.call('getFile', [f])) as { size: number }).size).toBe(8 * MiB + 1);
    r.close();
  });

  it('putFile takes a stream (remote: it arrives as one) and writes it as it comes: temp file, then rename', async () => {
    make();
    const r = remoteOf(di);
    const bytes = content(12 * MiB + 7, 4);
    const dest = path.join(A, 'sub', 'in.bin');
    const chunks = function* () {
      for (let o = 0; o < bytes.length; o += MiB) yield bytes.subarray(o, Math.min(bytes.length, o + MiB));
    };
    await r.peer.call('putFile', [dest, new ByteStream(chunks()), false]);
    expect(Buffer.compare(fs.readFileSync(dest), bytes)).toBe(0);
    // In process: a Node Readable, an async iterable, strings in a stream.
    await di.putFile(path.join(A, 'r.bin'), Readable.from(chunks()));
    expect(Buffer.compare(fs.readFileSync(path.join(A, 'r.bin')), bytes)).toBe(0);
    await di.putFile(path.join(A, 's.txt'), Readable.from(['a', 'b', 'c']));
    expect(fs.readFileSync(path.join(A, 's.txt'), 'utf8')).toBe('abc');
    // A source that fails part way: its error, nothing under the name, no temp file left.
    const failing = async function* () {
      yield bytes.subarray(0, MiB);
      throw new Error('source broke');
    };
    const e = await failure(r.peer.call('putFile', [path.join(A, 'broken.bin'), new ByteStream(failing()), false]));
    expect(e.message).toMatch(/source broke/);
    expect(fs.existsSync(path.join(A, 'broken.bin'))).toBe(false);
    expect(temps(A)).toEqual([]);
    // The caller goes away mid-file: the runtime drops the temp file and keeps serving.
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    const hanging = async function* () {
      yield bytes.subarray(0, MiB);
      await gate;
      yield bytes.subarray(MiB, 2 * MiB);
    };
    const p = r.peer.call('putFile', [path.join(A, 'gone.bin'), new ByteStream(hanging()), false]);
    p.catch(() => undefined);
    await sleep(100);
    expect(temps(A).length).toBe(1);
    r.close();
    release();
    await sleep(100);
    expect(fs.existsSync(path.join(A, 'gone.bin'))).toBe(false);
    expect(temps(A)).toEqual([]);
    const r2 = remoteOf(di);
    expect(typeof (await r2.peer.call('ping', []))).toBe('number');
    r2.close();
  });
});
