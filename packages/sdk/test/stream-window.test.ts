// The receive window of streams (RemoteOptions.streamWindow): what the runtime may send of a stream
// the experiment has not read yet. Default 4 MiB; smaller holds less in flight, larger lets a far
// client keep a long pipe full. Measured in bytes that reached this side's link, not in time.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntimeServer } from '@rtfmri/runtime';
import type { Link } from '@rtfmri/transport';
import { connectWs } from '@rtfmri/transport/node';
import { DataInterface, RemoteDataInterface } from '../src/index.js';
import { CLIENT_TOKEN, failure, setup, sleep, tmpDir, TOKEN, type Setup } from './harness.js';

const MiB = 1 << 20;

describe('streamWindow', () => {
  let A: string;
  let s: Setup;
  let file: string;
  beforeAll(async () => {
    A = tmpDir();
    s = await setup('remote', { allowedDirs: [A], allowedFileTypes: ['.bin'] });
    file = path.join(A, 'w.bin');
    const b = Buffer.alloc(16 * MiB, 7);
    fs.writeFileSync(file, b);
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(A, { recursive: true, force: true });
  });

  /** A remote DataInterface whose link counts the bytes it receives. */
  async function counting(streamWindow?: number) {
    let received = 0;
    const di = new RemoteDataInterface({
      url: s.relay!.url,
      token: CLIENT_TOKEN,
      name: 'scanner1',
      streamWindow,
      dial: async (url) => {
        const link: Link = await connectWs(url);
        // counted in the first handler the SDK registers (a handler of our own would take the early frames)
        const on = link.onMessage.bind(link);
        let first = true;
        link.onMessage = (h) => {
          const counts = first;
          first = false;
          return on((m) => {
            if (counts) received += m.byteLength;
            h(m);
          });
        };
        return link;
      },
    });
    await di.waitForRuntime(10);
    return { di, received: () => received };
  }

  /** Bytes that reached the link while a 16 MiB stream is open and only its first chunk was read. */
  async function inFlight(streamWindow: number | undefined, settle: (bytes: number) => boolean, maxMs = 5000): Promise<number> {
    const { di, received } = await counting(streamWindow);
    try {
      const st = await di.getFileStream(file);
      const it = st[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done).toBe(false);
      const base = received();
      for (let t = 0; t < maxMs && !settle(received() - base); t += 20) await sleep(20);
      const n = received() - base;
      await it.return?.();
      return n;
    } finally {
      await di.close();
    }
  }

  it('a small window holds about one chunk in flight; the default lets about 4 MiB come ahead of the reader', async () => {
    // small: wait a fixed while (nothing more may come); default: wait until the window is full
    const small = await inFlight(128 * 1024, () => false, 600);
    expect(small).toBeLessThanOrEqual(2 * MiB + 64 * 1024);
    const dflt = await inFlight(undefined, (b) => b >= 3 * MiB);
    expect(dflt).toBeGreaterThanOrEqual(3 * MiB);
    const big = await inFlight(12 * MiB, (b) => b >= 10 * MiB);
    expect(big).toBeGreaterThanOrEqual(10 * MiB);
  }, 60_000);

  it('out-of-range values are refused when the DataInterface is made', async () => {
    for (const bad of [0, 1000, 2 ** 31, 1.5 * MiB + 0.5, Number.NaN, '4' as unknown as number]) {
      const e = await failure((async () => new RemoteDataInterface({ url: s.relay!.url, token: CLIENT_TOKEN, streamWindow: bad, dial: connectWs }))());
      expect(e.name, String(bad)).toBe('ValidationError');
      expect(e.message).toMatch(/streamWindow/);
    }
    // the DataInterface experiment code makes passes it on (and a local one refuses it)
    expect((await failure((async () => new DataInterface({ dataRemote: true, url: s.relay!.url, token: CLIENT_TOKEN, streamWindow: 1000 }))())).message).toMatch(/streamWindow/);
    expect((await failure((async () => new DataInterface({ allowedDirs: [A], streamWindow: 8 * MiB }))())).message).toMatch(/streamWindow is an option of a remote DataInterface/);
    const ok = new DataInterface({ dataRemote: true, url: s.relay!.url, token: CLIENT_TOKEN, streamWindow: 8 * MiB });
    await ok.waitForRuntime(10);
    expect(await ok.ping()).toBeGreaterThanOrEqual(0);
    await ok.close();
    // the runtime's own window (for streams it receives: a streamed putFile)
    const e = await failure(startRuntimeServer({ connect: s.relay!.url, name: 'w2', token: TOKEN, allowedDirs: [A], streamWindow: 1000 }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(/streamWindow/);
  });
});
