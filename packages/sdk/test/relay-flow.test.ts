// Reply buffers and flow control through the relay on loopback WebSocket.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcPeer } from '@rtfmri/transport';
import { connectWs } from '@rtfmri/transport/node';
import { RelayClient } from '@rtfmri/relay/protocol';
import { parseDicom } from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { mintClientToken } from '../src/index.js';
import { setup, sleep, tmpDir, TOKEN, type Setup } from './harness.js';

function content(k: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = 0x9e3779b9 ^ (k * 7919);
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('getFile through the relay: reused reply buffers never leak into another reply', () => {
  let dir: string;
  let s: Setup;
  beforeAll(async () => {
    dir = tmpDir();
    s = await setup('remote', { allowedDirs: [dir], allowedFileTypes: ['.bin'] });
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('many concurrent and back-to-back reads of different files come back byte-exact', async () => {
    const files = [300_000, 457_082, 123_457, 600_001, 4096, 2_000_000].map((size, k) => {
      const p = path.join(dir, `f${k}.bin`);
      const bytes = content(k, size);
      fs.writeFileSync(p, bytes);
      return { p, bytes };
    });
    for (let round = 0; round < 5; round++) {
      const order = Array.from({ length: 24 }, (_, i) => files[(i * 7 + round) % files.length]!);
      const got = await Promise.all(order.map((f) => s.di.getFile(f.p)));
      got.forEach((g, i) => expect(Buffer.compare(Buffer.from(g), Buffer.from(order[i]!.bytes))).toBe(0));
    }
    // Calls issued one per event-loop turn without waiting for replies: replies pile up in the
    // sockets (bufferedAmount > 0) while later reads want the ring.
    const pending: Array<[Promise<Uint8Array>, Uint8Array]> = [];
    for (let i = 0; i < 48; i++) {
      const f = files[(i * 5) % files.length]!;
      pending.push([s.di.getFile(f.p), f.bytes]);
      await new Promise((r) => setImmediate(r));
    }
    for (const [g, want] of pending) expect(Buffer.compare(Buffer.from(await g), Buffer.from(want))).toBe(0);
    // Sequential calls, each reply kept while the next ones reuse the ring.
    const kept: Array<[Uint8Array, Uint8Array]> = [];
    for (let i = 0; i < 20; i++) {
      const f = files[i % files.length]!;
      kept.push([await s.di.getFile(f.p), f.bytes]);
    }
    for (const [g, want] of kept) expect(Buffer.compare(Buffer.from(g), Buffer.from(want))).toBe(0);
  });
});

describe('relay flow control: a client that stops reading', () => {
  let dir: string;
  let s: Setup;
  beforeAll(async () => {
    dir = tmpDir();
    s = await setup('remote', { allowedDirs: [dir], allowedFileTypes: ['.bin'] });
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('does not grow the relay\'s memory without bound; other clients keep being served; it catches up when it reads again', async () => {
    // 1 MiB: the largest file a remote getFile answers as bytes (one chunk; larger files travel as
    // streams, which a client that does not read never grants credit: see the next test).
    const big = path.join(dir, 'big.bin');
    const bigBytes = content(1, 1024 * 1024);
    fs.writeFileSync(big, bigBytes);
    const small = path.join(dir, 'small.bin');
    const smallBytes = content(2, 457_082);
    fs.writeFileSync(small, smallBytes);

    // A raw client of the same relay and runtime, whose socket we stop reading.
    const link = await connectWs(s.relay!.url);
    const rc = await RelayClient.attach(link, { target: 'scanner1', token: mintClientToken(TOKEN, { sub: 'slow' }) });
    // A live client that stops reading. The RPC on a relay session runs no heartbeat, so only
    // the relay link's liveness (4 s of silence) bounds the pause below.
    const peer = new RpcPeer(rc.session!);
    await peer.ready;
    link.ws.pause();
    const CALLS = 60; // 60 MiB of replies, far above the relay's 4 MiB pause mark
    const pending = Array.from({ length: CALLS }, () => peer.call('getFile', [big], { timeoutMs: 60_000 }) as Promise<Uint8Array>);
    pending.forEach((p) => p.catch(() => {}));

    // Meanwhile another client is served, byte-exact, while the slow one's session is paused.
    let maxBuffered = 0;
    const sample = () => {
      for (const c of s.relay!.relay.stats().clientLinks) if (c.id === 'slow') maxBuffered = Math.max(maxBuffered, c.buffered);
    };
    const t0 = Date.now();
    let served = 0;
    while (Date.now() - t0 < 1500) {
      const got = await s.di.getFile(small);
      expect(Buffer.compare(Buffer.from(got), Buffer.from(smallBytes))).toBe(0);
      served++;
      sample();
      await sleep(20);
    }
    expect(served).toBeGreaterThan(5);
    const st = s.relay!.relay.stats();
    expect(st.holds).toBeGreaterThan(0);
    expect(st.clientLinks.find((c) => c.id === 'slow')?.held).toBe(true);
    expect(st.slowDropped).toBe(0);
    // Without flow control the relay would hold most of the 60 MiB for the stalled client.
    expect(maxBuffered).toBeLessThan(24 * 1024 * 1024);

    // It reads again: every reply arrives, whole.
    link.ws.resume();
    const got = await Promise.all(pending);
    for (const g of got) expect(Buffer.compare(Buffer.from(g), Buffer.from(bigBytes))).toBe(0);
    expect(s.relay!.relay.stats().clientLinks.find((c) => c.id === 'slow')?.held).toBe(false);
    peer.close('done');
    rc.close();
  });
});

describe('getImageData through the relay: the runtime reuses the memory of sent volumes', () => {
  let dir: string;
  let s: Setup;
  beforeAll(async () => {
    dir = tmpDir();
    s = await setup('remote', { allowedDirs: [dir], allowedFileTypes: ['.dcm'] });
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('volumes queued in the runtime\'s socket (the relay not reading it) arrive intact', async () => {
    const N = 48;
    const sources = Array.from({ length: N }, (_, i) => syntheticEpiVolume(i));
    sources.forEach((b, i) => fs.writeFileSync(path.join(dir, `v_${String(i).padStart(3, '0')}.dcm`), b));
    const id = await s.di.initScannerStream(dir, 'v_{TR:03d}.dcm', 0);
    // White box: stop the relay reading the runtime's link, so the runtime's own socket fills
    // (about 22 MB here, more than the kernel takes) while it keeps anonymizing volumes.
    const rt = (s.relay!.relay as unknown as { runtimes: Map<string, { link: { ws: { pause(): void; resume(): void } } }> }).runtimes.get('scanner1')!;
    rt.link.ws.pause();
    const pending = sources.map((_, i) => s.di.getImageData(id, i, 30));
    pending.forEach((p) => p.catch(() => {}));
    await sleep(300);
    rt.link.ws.resume();
    const got = await Promise.all(pending);
    got.forEach((ds, i) => {
      expect(Number(ds.get('InstanceNumber'))).toBe(i + 1);
      const want = parseDicom(sources[i]!).pixelData() as Uint8Array;
      const have = ds.pixelData() as Uint8Array;
      expect(Buffer.compare(Buffer.from(have.buffer, have.byteOffset, have.byteLength), Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(0);
    });
  });
});
