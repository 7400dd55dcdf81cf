// Issue 11, fair sharing: bulk transfers yield to small calls at every queue this code controls.
// One process here (relay, runtime and clients share the event loop), so what is checked is how
// much a transfer queues where a small frame would wait behind it, not wall-clock latency (the
// benchmark, packages/cli/bench/bulk.ts, measures that with separate processes).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataInterface } from '../src/index.js';
import { CLIENT_TOKEN, setup, tmpDir, type Setup } from './harness.js';

const MiB = 1 << 20;

function content(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4096) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  b[0] = 0xfe; // escaped by the relay framing (first byte >= 0x80): the escaped route is scheduled too
  return b;
}

describe('fair sharing through the relay', () => {
  let A: string;
  let s: Setup;
  let other: DataInterface;
  beforeAll(async () => {
    A = tmpDir();
    s = await setup('remote', { allowedDirs: [A], allowedFileTypes: ['.bin'] });
    other = new DataInterface({ dataRemote: true, url: s.relay!.url, token: CLIENT_TOKEN, name: 'scanner1', clientId: 'other' });
    await other.waitForRuntime(10);
  });
  afterAll(async () => {
    await other?.close();
    await s?.close();
    fs.rmSync(A, { recursive: true, force: true });
  });

  /** Runs `transfer` while another client pings; the relay's peaks (taken as frames are sent and queued) meanwhile. */
  async function during(transfer: () => Promise<unknown>) {
    let done = false;
    s.relay!.relay.stats(); // resets the peaks
    let pings = 0;
    const pinger = (async () => {
      while (!done) {
        await other.ping();
        pings++;
      }
    })();
    try {
      await transfer();
    } finally {
      done = true;
      await pinger;
    }
    const st = s.relay!.relay.stats();
    const rt = st.runtimeLinks[0]!;
    return { maxRuntimeBuffered: rt.peakBuffered, maxQueued: rt.peakQueued, maxClientBuffered: Math.max(...st.clientPeaks.map((c) => c.peakBuffered)), pings };
  }

  it("a runtime that stops reading: the relay queues at most a few MiB of a client's upload for it (the kernel's socket buffers hold the rest of the window), and the upload completes once it reads again", async () => {
    const link = s.runtime!.service.connection!.link as unknown as { ws: { pause(): void; resume(): void } };
    const bytes = content(96 * MiB);
    s.relay!.relay.stats(); // resets the peaks
    link.ws.pause();
    const put = s.di.putFile(path.join(A, 'held.bin'), bytes);
    put.catch(() => undefined);
    let settled = false;
    void put.finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 1500));
    const st = s.relay!.relay.stats();
    const rt = st.runtimeLinks[0]!;
    expect(settled).toBe(false);
    // The upload's flow control (the runtime's stream credit, the relay's ACKs to the client) keeps
    // the relay's own queue small; with a plain byte part (before uploads streamed) all 96 MiB
    // could pile up in front of the runtime's socket.
    expect(rt.queued).toBeLessThanOrEqual(6 * MiB);
    expect(rt.peakQueued).toBeLessThanOrEqual(6 * MiB);
    link.ws.resume();
    await put;
    expect(Buffer.compare(fs.readFileSync(path.join(A, 'held.bin')), bytes)).toBe(0);
  }, 60_000);

  it("a download while another client pings: the runtime sends it in 256 KiB chunks and keeps at most about 512 KiB of it in flight (1 MiB chunks and 3 MiB before)", async () => {
    const bytes = content(48 * MiB);
    fs.writeFileSync(path.join(A, 'down.bin'), bytes);
    // The runtime's physical link to the relay: what it sends per session, and the relay's ACKs.
    const link = s.runtime!.service.connection!.link;
    const sent = new Map<number, number>();
    const acked = new Map<number, number>();
    let nextSid = -1;
    let selected = -1;
    let maxChunk = 0;
    let maxInFlight = 0;
    let pinging = false;
    const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
    const send = link.send.bind(link);
    link.send = (data) => {
      const parts = data instanceof Uint8Array ? [data] : data;
      const n = parts.reduce((a, p) => a + p.byteLength, 0);
      const first = parts.find((p) => p.byteLength > 0);
      if (first && nextSid < 0 && (first[0] === 0xc0 || first[0] === 0xd1) && n === 5) {
        // SELECT sets the session of the RPC frames that follow; RAW that of the next message only
        if (first[0] === 0xc0) selected = u32(first, 1);
        else nextSid = u32(first, 1);
      } else if (first && (nextSid >= 0 || first[0]! < 0x80)) {
        const sid = nextSid >= 0 ? nextSid : selected;
        nextSid = -1;
        sent.set(sid, (sent.get(sid) ?? 0) + n);
        if (pinging && n >= 16 * 1024) {
          maxChunk = Math.max(maxChunk, n);
          maxInFlight = Math.max(maxInFlight, sent.get(sid)! - (acked.get(sid) ?? 0));
        }
      }
      send(data);
    };
    const off = link.onMessage((f) => {
      if (f[0] === 0x8a && f.length >= 9) acked.set(u32(f, 1), (acked.get(u32(f, 1)) ?? 0) + u32(f, 5));
    });
    try {
      let got: Uint8Array | undefined;
      const r = await during(async () => {
        await new Promise((res) => setTimeout(res, 50)); // the pings make the other session active first
        pinging = true;
        got = await s.di.getFile(path.join(A, 'down.bin'));
      });
      expect(Buffer.compare(Buffer.from(got!), bytes)).toBe(0);
      expect(r.pings).toBeGreaterThan(5);
      expect(maxChunk).toBeGreaterThan(128 * 1024);
      expect(maxChunk).toBeLessThanOrEqual(256 * 1024 + 64);
      // the mark (256 KiB) plus one chunk, plus the small frames sent meanwhile
      expect(maxInFlight).toBeLessThanOrEqual(512 * 1024 + 16 * 1024);
    } finally {
      link.send = send;
      off();
    }
  }, 60_000);

  it("an upload while another client pings: the runtime grants it at most 512 KiB of credit, so the client sends chunks of at most that (1 MiB chunks and a 4 MiB window before)", async () => {
    const bytes = content(48 * MiB);
    const link = s.runtime!.service.connection!.link;
    let maxChunk = 0;
    let pinging = false;
    let rawNext = false;
    const off = link.onMessage((f) => {
      // A RAW header [0xD1][sid] announces a payload that would look like a control frame.
      if (rawNext || f[0]! < 0x80) {
        if (pinging && f.length >= 16 * 1024) maxChunk = Math.max(maxChunk, f.length);
        rawNext = false;
      } else if (f[0] === 0xd1) rawNext = true;
    });
    try {
      const r = await during(async () => {
        await new Promise((res) => setTimeout(res, 50));
        pinging = true;
        await s.di.putFile(path.join(A, 'up-shared.bin'), (async function* () {
          for (let o = 0; o < bytes.length; o += 4 * MiB) yield bytes.subarray(o, o + 4 * MiB);
        })());
      });
      expect(Buffer.compare(fs.readFileSync(path.join(A, 'up-shared.bin')), bytes)).toBe(0);
      expect(r.pings).toBeGreaterThan(5);
      expect(maxChunk).toBeGreaterThan(64 * 1024);
      expect(maxChunk).toBeLessThanOrEqual(512 * 1024 + 64);
    } finally {
      off();
    }
  }, 60_000);

  it("an upload and another client's pings: every ping is answered while the upload runs", async () => {
    const bytes = content(128 * MiB);
    const r = await during(() => s.di.putFile(path.join(A, 'up.bin'), bytes));
    expect(Buffer.compare(fs.readFileSync(path.join(A, 'up.bin')), bytes)).toBe(0);
    expect(r.pings).toBeGreaterThan(5);
  }, 60_000);
});
