// The browser SDK's getFileStream and streamed putFile (issue 11), run here in Node as browser-options.test.ts does: the
// page's DataInterface with its WorkerApi on the same thread (`worker: false`), over a WebSocket to
// a real relay (the `ws` package standing in for the browser's WebSocket). Same FileStream as in Node.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as browser from '../src/browser/index.js';
import { browserInNode, tmpDir } from './harness.js';

let di: browser.DataInterface;
let env: Awaited<ReturnType<typeof browserInNode>> | undefined;
const MiB = 1 << 20;
const d = tmpDir('rtfmri-browser-stream-');

beforeAll(async () => {
  env = await browserInNode(d, ['.bin']);
  di = env.di;
}, 60_000);
afterAll(async () => {
  await env?.close();
  fs.rmSync(d, { recursive: true, force: true });
});

describe('browser SDK: getFileStream', () => {
  it('a 20 MiB file as chunks (for await and readable()), and getFile collecting it', async () => {
    const f = path.join(d, 'big.bin');
    const bytes = Buffer.alloc(20 * MiB + 3);
    for (let i = 0; i < bytes.length; i += 997) bytes[i] = (i >> 10) & 0xff;
    bytes[0] = 0xfe;
    fs.writeFileSync(f, bytes);
    const s = await di.getFileStream(f);
    expect(s.size).toBe(bytes.length);
    const parts: Uint8Array[] = [];
    for await (const c of s) parts.push(c);
    expect(parts.length).toBeGreaterThan(1);
    expect(Buffer.compare(Buffer.concat(parts), bytes)).toBe(0);
    const reader = (await di.getFileStream(f)).readable().getReader();
    let n = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      n += r.value.length;
    }
    expect(n).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(await di.getFile(f)), bytes)).toBe(0);
  });

  it('putFile of a Blob and of a ReadableStream: streamed to the runtime, written whole under the final name', async () => {
    const bytes = Buffer.alloc(12 * MiB + 5);
    for (let i = 0; i < bytes.length; i += 991) bytes[i] = (i >> 12) & 0xff;
    const viaBlob = path.join(d, 'up-blob.bin');
    await di.putFile(viaBlob, new Blob([bytes.subarray(0, 5 * MiB), bytes.subarray(5 * MiB)]));
    expect(Buffer.compare(fs.readFileSync(viaBlob), bytes)).toBe(0);
    // a stream made of 256 KiB pieces, as a page's file reader or fetch body gives
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) return c.close();
        c.enqueue(new Uint8Array(bytes.subarray(at, Math.min(bytes.length, at + 256 * 1024))));
        at += 256 * 1024;
      },
    });
    const viaStream = path.join(d, 'up-stream.bin');
    await di.putFile(viaStream, stream);
    expect(Buffer.compare(fs.readFileSync(viaStream), bytes)).toBe(0);
    // a stream that fails halfway leaves nothing under the name
    let n = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ === 8) return c.error(new Error('the page lost the file'));
        c.enqueue(new Uint8Array(256 * 1024));
      },
    });
    const viaBroken = path.join(d, 'up-broken.bin');
    await expect(di.putFile(viaBroken, broken)).rejects.toThrow();
    expect(fs.existsSync(viaBroken)).toBe(false);
    expect(fs.readdirSync(d).filter((f) => f.includes('up-broken'))).toEqual([]);
  });
});
