// Reused reply buffers on a real WebSocket whose reader has stopped: a buffer still queued in the
// socket is never handed out again.
import { describe, expect, it } from 'vitest';
import type { Link } from '@rtfmri/transport';
import { connectWs, createWsServer, type WsLink } from '@rtfmri/transport/node';
import { ReplyBuffers } from '../src/serve/reply-buffers.js';

describe('ReplyBuffers', () => {
  it('a buffer stays lent while the bytes it holds wait in a full socket', async () => {
    let serverLink!: WsLink;
    const got: Uint8Array[] = [];
    let linked!: () => void;
    const isLinked = new Promise<void>((r) => (linked = r));
    const server = await createWsServer({
      port: 0,
      onLink(link: Link) {
        serverLink = link as WsLink;
        link.onMessage((m) => got.push(new Uint8Array(m)));
        linked();
      },
    });
    const client = await connectWs(server.url);
    await isLinked;
    // The reader stops: the kernel buffers fill, then the client's socket queues our buffers.
    const sock = (serverLink.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    sock.pause();
    // replies go out through rb.rpcLink (what serveSession gives the RPC): it sees them leave
    const rb = new ReplyBuffers(client);
    // One message per RPC frame at most (1 MiB + headers is the link's limit).
    const SIZE = 1024 * 1024;
    const N = 32;
    let queuedAtSomePoint = false;
    for (let i = 0; i < N; i++) {
      const b = rb.take(SIZE);
      b.fill(i + 1);
      rb.rpcLink.send(b);
      await new Promise((r) => setImmediate(r));
      if (client.bufferedAmount > 0) queuedAtSomePoint = true;
    }
    expect(queuedAtSomePoint).toBe(true);
    sock.resume();
    while (got.length < N) await new Promise((r) => setTimeout(r, 10));
    got.forEach((m, i) => {
      expect(m.length).toBe(SIZE);
      expect(m.every((x) => x === i + 1)).toBe(true);
    });
    // Once everything has been flushed, the ring is reused (no fresh memory per reply).
    await new Promise((r) => setTimeout(r, 20));
    const a = rb.take(SIZE);
    rb.rpcLink.send(a.fill(99));
    await new Promise((r) => setTimeout(r, 20));
    const b = rb.take(SIZE);
    expect(b.buffer).toBe(a.buffer);
    client.close('done');
    await server.close();
  });
});
