// The memory of a reply is reused (ReplyBuffers' ring for getFile, recycleDelivered for streamed
// volumes) only once the reply has left this process. "Left" is more than "the socket is empty":
// when a relay session is held back (its client reads slowly, the relay does not acknowledge), the
// RPC has not even handed the reply to the socket yet, and an empty socket says nothing about it.
// Here a session over a real WebSocket whose acknowledgements the test holds back: replies queue
// in the RPC, the socket stays empty, and other deliveries of the same process run meanwhile.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as dicom from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { BaseLink, connect } from '@rtfmri/transport';
import { connectWs, createWsServer, type WsServer } from '@rtfmri/transport/node';
import { CONTROL_MIN, SessionLink, SessionSender } from '@rtfmri/relay/protocol';
import { DataInterface, serveSession } from '../src/index.js';
import { rmrf, sleep, tmpDir } from './util.js';

/** The client's end of the session: frames the runtime sent, as the relay would forward them. */
class CallerLink extends BaseLink {
  readonly kind = 'test-caller';
  readonly bufferedAmount = 0;
  readonly maxMessageSize = 2 << 20;
  constructor(private readonly runtimeSide: SessionLink) {
    super();
    this.markOpen();
  }
  send(data: Uint8Array | readonly Uint8Array[]): void {
    this.runtimeSide.deliver(data instanceof Uint8Array ? data : Buffer.concat(data as Uint8Array[]));
  }
  private rawNext = false;
  fromRuntime(frame: Uint8Array): void {
    if (this.rawNext) {
      this.rawNext = false;
      this.deliver(frame);
    } else if (frame[0]! < CONTROL_MIN) this.deliver(frame);
    else if (frame[0] === 0xd1) this.rawNext = true; // F.Raw: the next message is an RPC frame
    // F.Select: the only session here
  }
  protected doClose(): void {
    this.markClosed('closed');
  }
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A DataInterface served over a session whose acknowledgements the test gives (ack()). */
async function heldSession() {
  const dir = tmpDir();
  cleanups.push(() => rmrf(dir));
  const volumes = Array.from({ length: 4 }, (_, i) => syntheticEpiVolume(i, { tile: 48, slices: 16, seriesHeaderBytes: 4000 }));
  volumes.forEach((v, i) => fs.writeFileSync(path.join(dir, `vol_${String(i).padStart(3, '0')}.dcm`), v));
  // files for getFile (non-DICOM, sent as they are), each with bytes of its own
  const fills = Array.from({ length: 40 }, (_, k) => new Uint8Array(1000 * 1000).fill(k + 1));
  fills.forEach((f, k) => fs.writeFileSync(path.join(dir, `fill_${k}.bin`), f));
  // files read as streams (over 1 MiB), each 64 KiB of its own; first bytes below 0x80 (no RAW needed)
  const bigs = Array.from({ length: 3 }, (_, k) => {
    const b = new Uint8Array(5 * 1024 * 1024 + 3);
    for (let i = 0; i < b.length; i += 65536) b.fill(((k * 97 + i / 65536) % 120) + 1, i, i + 65536);
    fs.writeFileSync(path.join(dir, `big_${k}.bin`), b);
    return b;
  });

  const di = new DataInterface({ allowedDirs: [dir], allowedFileTypes: ['.dcm', '.bin'], work: 'inline' });
  cleanups.push(() => di.close());
  let caller!: CallerLink;
  const server: WsServer = await createWsServer({ port: 0, onLink: (link) => link.onMessage((m) => caller.fromRuntime(m)) });
  cleanups.push(() => server.close());
  const physical = await connectWs(server.url);
  cleanups.push(() => physical.close('done'));
  const session = new SessionLink(physical, new SessionSender(physical), 1, () => {});
  // every byte beyond 8 waits for an acknowledgement, which only the test gives
  session.enableFlow(1);
  caller = new CallerLink(session);
  serveSession(di, session);
  const remote = connect<Record<string, (...a: unknown[]) => Promise<unknown>>>(caller);
  const getFile = (k: number) => remote.getFile(path.join(dir, `fill_${k}.bin`)) as Promise<Uint8Array>;
  /**
   * Fills the session: over 8 MiB unacknowledged with the socket empty, so the RPC holds back
   * every reply that follows (getFile 20 and up are left for the tests).
   */
  const fill = async (): Promise<Promise<Uint8Array>[]> => {
    const pending: Promise<Uint8Array>[] = [];
    for (let k = 0; k < 20 && !(session.bufferedAmount > 8 << 20); k++) {
      pending.push(getFile(k));
      await until(() => physical.bufferedAmount === 0, 'the socket to empty');
      await sleep(5);
    }
    expect(session.bufferedAmount).toBeGreaterThan(8 << 20);
    return pending;
  };
  const socketEmpty = async () => {
    await until(() => physical.bufferedAmount === 0, 'the socket to empty');
    await sleep(50);
  };
  const ack = () => {
    const t = setInterval(() => session.acked(1 << 30), 2);
    cleanups.push(() => clearInterval(t));
  };
  /** A streamed getFile (over 1 MiB: `{ size, stream }` from the runtime), read whole. */
  const getBig = async (k: number): Promise<Uint8Array> => {
    const r = (await remote.getFile(path.join(dir, `big_${k}.bin`))) as { size: number; stream: AsyncIterable<Uint8Array> };
    const out = new Uint8Array(r.size);
    let off = 0;
    for await (const c of r.stream) {
      out.set(c, off);
      off += c.length;
    }
    expect(off).toBe(r.size);
    return out;
  };
  return { dir, di, remote, fills, bigs, getFile, getBig, fill, socketEmpty, ack };
}

describe('reply memory is reused only after the reply has left', () => {
  it('getFile: a reply held back by the session keeps its buffer while later getFile calls run', async () => {
    const s = await heldSession();
    const first = await s.fill();
    await s.socketEmpty();
    // a reply queued behind the full session, then more getFile calls of the same session
    const held = s.getFile(20);
    await s.socketEmpty();
    const later = [21, 22, 23, 24, 25].map(s.getFile);
    await s.socketEmpty();
    s.ack();
    const got = await Promise.all([...first, held, ...later]);
    const asked = [...first.keys(), 20, 21, 22, 23, 24, 25];
    got.forEach((f, i) => expect(Buffer.compare(f, s.fills[asked[i]!]!), `getFile ${asked[i]}`).toBe(0));
  });

  it('file streams: chunks held back by the session keep their memory while other streams of the session read theirs', async () => {
    const s = await heldSession();
    const first = await s.fill();
    // three streams start behind the full session: each reads ahead into the session's chunk memory
    const streams = [0, 1, 2, 0, 1].map((k) => s.getBig(k));
    await s.socketEmpty();
    await sleep(100);
    s.ack();
    const got = await Promise.all(streams);
    await Promise.all(first);
    got.forEach((b, i) => expect(Buffer.compare(b, s.bigs[[0, 1, 2, 0, 1][i]!]!), `stream ${i}`).toBe(0));
    // and again, the memory now reused, with the session flowing
    const again = await Promise.all([2, 1, 0].map((k) => s.getBig(k)));
    again.forEach((b, i) => expect(Buffer.compare(b, s.bigs[[2, 1, 0][i]!]!), `again ${i}`).toBe(0));
  });

  it('getImageData: a volume held back by the session keeps its memory while this process delivers others', async () => {
    const s = await heldSession();
    const streamId = (await s.remote.initScannerStream(s.dir, 'vol_{TR:03d}.dcm', 0, true)) as number;
    const first = await s.fill();
    const held = s.remote.getImageData(streamId, 0) as Promise<Uint8Array>;
    await s.socketEmpty();
    // meanwhile this process delivers other volumes (a local caller here; another session alike)
    const local = await s.di.initScannerStream(s.dir, 'vol_{TR:03d}.dcm', 0, true);
    const expected: Uint8Array[] = [];
    for (const i of [0, 1, 2, 3, 1, 2, 3]) {
      const b = (await s.di.getImageData(local, i)).toBytes();
      expected[i] ??= b.slice();
      await sleep(1);
    }
    s.ack();
    const got = await held;
    await Promise.all(first);
    expect(dicom.parseDicom(got).get('InstanceNumber'), 'the held volume').toBe(1);
    expect(Buffer.compare(got, expected[0]!), 'the held volume changed before it was sent').toBe(0);
  });
});
