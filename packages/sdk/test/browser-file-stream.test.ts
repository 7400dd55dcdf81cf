// The browser SDK's getFileStream (issue 11), run here in Node as browser-options.test.ts does: the
// page's DataInterface with its WorkerApi on the same thread (`worker: false`), over a WebSocket to
// a real relay (the `ws` package standing in for the browser's WebSocket). Same FileStream as in Node.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntimeServer, type RuntimeServer } from '@rtfmri/runtime';
import * as browser from '../src/browser/index.js';
import { hostRelay, type HostedRelay } from '../src/index.js';
import { CLIENT_TOKEN, TOKEN, tmpDir } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ws = createRequire(path.resolve(here, '../../transport/package.json'))('ws') as { WebSocket: unknown };
const MiB = 1 << 20;

let relay: HostedRelay;
let runtime: RuntimeServer;
let di: browser.DataInterface;
const d = tmpDir('rtfmri-browser-stream-');
const had = (globalThis as { WebSocket?: unknown }).WebSocket;

beforeAll(async () => {
  (globalThis as { WebSocket?: unknown }).WebSocket = ws.WebSocket;
  relay = await hostRelay({ token: TOKEN });
  runtime = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [d], allowedFileTypes: ['.bin'] });
  await runtime.service.whenConnected();
  di = new browser.DataInterface({ dataRemote: true, url: relay.url, token: CLIENT_TOKEN, name: 'scanner1', transport: 'websocket', worker: false });
  await di.waitForRuntime(10);
}, 60_000);
afterAll(async () => {
  await di?.close();
  await runtime?.close();
  await relay?.close();
  (globalThis as { WebSocket?: unknown }).WebSocket = had;
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
});
