// Reply buffers and flow control through the relay on loopback WebSocket.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setup, tmpDir, type Setup } from './harness.js';

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
