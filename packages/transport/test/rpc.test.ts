// RPC behaviour that is independent of the link: liveness (the heartbeat on a physical link, off
// by default), explicit out-of-order frames, contextArg, large values, compression.
import { describe, expect, it } from 'vitest';
import * as T from '../src/node.js';
import type { Link } from '../src/link.js';
import { digest, pattern } from './contract-cases.js';

/** Wraps a link: records sent frames, and can turn into a black hole (drops both ways, stays open). */
function tap(link: Link) {
  const sent: Uint8Array[] = [];
  let hole = false;
  const wrapped = new Proxy(link, {
    get(target, prop, recv) {
      if (prop === 'send') {
        return (d: Uint8Array | readonly Uint8Array[]) => {
          if (hole) return;
          for (const p of d instanceof Uint8Array ? [d] : d) sent.push(p.slice());
          target.send(d);
        };
      }
      if (prop === 'onMessage') return (h: (m: Uint8Array) => void) => target.onMessage((m) => !hole && h(m));
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { link: wrapped as Link, sent, blackHole: () => (hole = true) };
}

describe('liveness', () => {
  it('a silent peer (link open, nothing arrives) is declared dead within 2 s by the heartbeat; pending calls fail with DisconnectedError', async () => {
    const [c, s] = T.createLocalLinkPair();
    const t = tap(c);
    // the server keeps quiet about its own view (it would notice the silence at the same time)
    T.expose(s, { async wait() { await new Promise(() => {}); } }, ['wait']);
    const api = T.connect<{ wait(): Promise<void> }>(t.link, { heartbeat: true });
    await T.peerOf(api).ready;
    const p = api.wait();
    const t0 = Date.now();
    t.blackHole();
    await expect(p).rejects.toMatchObject({ name: 'DisconnectedError', message: expect.stringMatching(/not connected.*heartbeat/) });
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(3000); // loose: the design budget is 2 s (1.5 s silence + one check period)
    s.close();
  });

  it('heartbeat off (the default: a relay session): an idle peer sends nothing and stays up', async () => {
    const [c, s] = T.createLocalLinkPair();
    const tc = tap(c);
    const ts = tap(s);
    T.expose(ts.link, { async hi() { return 'hi'; } }, ['hi']);
    const api = T.connect<{ hi(): Promise<string> }>(tc.link);
    expect(await api.hi()).toBe('hi');
    const before = tc.sent.length + ts.sent.length;
    await new Promise((r) => setTimeout(r, 700));
    expect(tc.sent.length + ts.sent.length).toBe(before);
    expect(await api.hi()).toBe('hi');
    T.peerOf(api).close();
  });

  it('heartbeat on at both ends: an idle link stays up past deadAfterMs', async () => {
    const [c, s] = T.createLocalLinkPair();
    const hb = { heartbeat: { deadAfterMs: 200 } };
    T.expose(s, { async hi() { return 'hi'; } }, ['hi'], hb);
    const api = T.connect<{ hi(): Promise<string> }>(c, hb);
    expect(await api.hi()).toBe('hi');
    await new Promise((r) => setTimeout(r, 800));
    expect(T.peerOf(api).state).toBe('ready');
    expect(await api.hi()).toBe('hi');
    T.peerOf(api).close();
  });

  it('watchLiveness: any frame counts, pings go out each period, silence closes the link with DisconnectedError', async () => {
    const [a, b] = T.createLocalLinkPair();
    const got: number[] = [];
    b.onMessage((m) => got.push(m[0]));
    const live = T.watchLiveness(a, { periodMs: 50, deadAfterMs: 200, ping: Uint8Array.of(0xb0) });
    a.onMessage(() => live.heard());
    // b talks for a while: a stays open
    const talk = setInterval(() => b.send(Uint8Array.of(1)), 30);
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(talk);
    expect(a.state).toBe('open');
    expect(got.filter((x) => x === 0xb0).length).toBeGreaterThanOrEqual(5);
    // then silence
    const t0 = Date.now();
    const info = await a.closed;
    const ms = Date.now() - t0;
    expect(info.error).toMatchObject({ name: 'DisconnectedError', message: expect.stringMatching(/not connected: no frame from the peer/) });
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(600);
  });

  it('watchLiveness without a ping (the side that only answers): sends nothing, stays open while frames come, closes after deadAfterMs of silence', async () => {
    const [a, b] = T.createLocalLinkPair();
    const got: Uint8Array[] = [];
    b.onMessage((m) => got.push(m));
    let dead = -1;
    const live = T.watchLiveness(a, { deadAfterMs: 200, onDead: (ms) => (dead = ms) });
    a.onMessage(() => live.heard());
    const talk = setInterval(() => b.send(Uint8Array.of(1)), 50);
    await new Promise((r) => setTimeout(r, 600));
    clearInterval(talk);
    expect(dead).toBe(-1);
    expect(got).toHaveLength(0);
    const t0 = Date.now();
    while (dead < 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
    expect(dead).toBeGreaterThanOrEqual(200);
    expect(Date.now() - t0).toBeLessThan(600);
    a.close();
  });
});

describe('frames and options', () => {
  it('frames out of order close the link with ProtocolError', async () => {
    const frames: Array<[string, Uint8Array]> = [
      ['result for a call never made', Uint8Array.of(0x11, 5, 0, 0)],
      ['data for a call never made', Uint8Array.of(0x14, 9, 0, 0, 1, 2, 3)],
      ['credit for a call never made', Uint8Array.of(0x15, 9, 0, 0, 100)],
      ['cancel for a call never made', Uint8Array.of(0x13, 9)],
      ['unknown frame type', Uint8Array.of(0x7e)],
      ['a retired handshake frame (HELLO)', Uint8Array.of(0x01, 1, ...new Uint8Array(32), 0x0a, 0)],
      ['a retired SIGNAL frame', Uint8Array.of(0x08, 0x0a, 0)],
    ];
    for (const [what, frame] of frames) {
      const [c, s] = T.createLocalLinkPair();
      const errs: Error[] = [];
      const server = T.expose(s, { async x() {} }, ['x'], { onError: (e) => errs.push(e) });
      const client = new T.RpcPeer(c);
      await client.ready;
      await server.ready;
      c.send(frame);
      await new Promise<void>((r) => server.onClose(() => r()));
      expect(errs.map((e) => e.name), what).toEqual(['ProtocolError']);
    }
    // request ids must increase
    const [c, s] = T.createLocalLinkPair();
    const errs: Error[] = [];
    const server = T.expose(s, { async x() { return 1; } }, ['x'], { onError: (e) => errs.push(e) });
    const client = new T.RpcPeer(c);
    expect(await client.call('x')).toBe(1);
    c.send(Uint8Array.of(0x10, 1, 0, 1, 0x78, 0x09, 0));
    await new Promise<void>((r) => server.onClose(() => r()));
    expect(errs[0]).toMatchObject({ name: 'ProtocolError', message: expect.stringMatching(/out of order/) });
  });

  it('contextArg passes the CallContext as an extra last argument after padding', async () => {
    const [c, s] = T.createLocalLinkPair();
    const impl = {
      async get(a: number, b = 5, ctx?: T.CallContext) {
        return { a, b, left: ctx!.timeLeftMs() > 0, method: ctx!.method };
      },
    };
    T.expose(s, impl, ['get'], { contextArg: { get: 2 } });
    const api = T.connect<typeof impl>(c, { timeoutMs: 5000 });
    expect(await api.get(1)).toEqual({ a: 1, b: 5, left: true, method: 'get' });
    expect(await api.get(1, 2)).toEqual({ a: 1, b: 2, left: true, method: 'get' });
  });
});

describe('large values and the portable WebSocket link', () => {
  it('a value bigger than a frame travels as an external part (plain and compressed, both ways)', async () => {
    const [c, s] = T.createLocalLinkPair();
    const small = { maxFrameSize: 64 * 1024, chunkSize: 16 * 1024 };
    T.expose(s, { async echo(x: unknown) { return x; } }, ['echo'], small);
    const api = T.connect<{ echo(x: unknown): Promise<unknown> }>(c, small);
    const paths = Array.from({ length: 20_000 }, (_, i) => `/data/session/scan_${String(i).padStart(6, '0')}.dcm`);
    expect(await api.echo(paths)).toEqual(paths);
    expect(await T.withOptions(api, { compress: true }).echo(paths)).toEqual(paths);
  });

  it('BrowserWebSocketLink (W3C WebSocket API; here ws in its W3C mode) against the Node server', async () => {
    const { WebSocket } = await import('ws');
    const server = await T.createWsServer({
      onLink: (l) => T.expose(l, { async echo(x: unknown) { return x; }, async sum(b: Uint8Array) { return digest(b); } }, ['echo', 'sum']),
    });
    const link = new T.BrowserWebSocketLink(new WebSocket(server.url) as unknown as ConstructorParameters<typeof T.BrowserWebSocketLink>[0]);
    await link.opened;
    const api = T.connect<{ echo(x: unknown): Promise<unknown>; sum(b: Uint8Array): Promise<number> }>(link);
    expect(await api.echo({ a: [1, 'x'] })).toEqual({ a: [1, 'x'] });
    const b = pattern(5 * 1024 * 1024 + 3, 8);
    expect(await api.sum(b)).toBe(digest(b));
    expect(await T.withOptions(api, { compress: true }).sum(new Uint8Array(300_000))).toBe(digest(new Uint8Array(300_000)));
    const back = (await api.echo(b)) as Uint8Array;
    expect(digest(back)).toBe(digest(b));
    link.close();
    await server.close();
  });
});

describe('compression', () => {
  it('compress: true really shrinks the bytes on the wire; auto does not bother with random bytes', async () => {
    const sentBytes = async (compress: boolean | 'auto', payload: Uint8Array) => {
      const [c, s] = T.createLocalLinkPair();
      const t = tap(c);
      T.expose(s, { async len(b: Uint8Array) { return b.length; } }, ['len']);
      const api = T.connect<{ len(b: Uint8Array): Promise<number> }>(t.link);
      await T.peerOf(api).ready;
      const before = t.sent.reduce((n, f) => n + f.length, 0);
      expect(await T.withOptions(api, { compress }).len(payload)).toBe(payload.length);
      T.peerOf(api).close();
      return t.sent.reduce((n, f) => n + f.length, 0) - before;
    };
    const text = new TextEncoder().encode('PatientName^Anonymous; EchoTime=30; RepetitionTime=2000\n'.repeat(100_000));
    const plain = await sentBytes(false, text);
    const packed = await sentBytes(true, text);
    expect(plain).toBeGreaterThan(text.length);
    expect(packed).toBeLessThan(text.length / 10);
    const noise = pattern(4 * 1024 * 1024, 77);
    expect(await sentBytes('auto', noise)).toBeLessThan(noise.length * 1.01);
  });
});
