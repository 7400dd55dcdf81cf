// RPC behaviour that is independent of the link: liveness, handshake rules, secrecy of the token,
// raw forwarding through a relay, explicit out-of-order frames.
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

const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;

describe('liveness and handshake', () => {
  it('a silent peer (link open, nothing arrives) is declared dead within 2 s; pending calls fail with DisconnectedError', async () => {
    const [c, s] = T.createLocalLinkPair();
    const t = tap(c);
    // the server keeps quiet about its own view (it would notice the silence at the same time)
    T.expose(s, { async wait() { await new Promise(() => {}); } }, ['wait'], { auth: 'none', heartbeatMs: 0 });
    const api = T.connect<{ wait(): Promise<void> }>(t.link, { auth: 'none' });
    await T.peerOf(api).ready;
    const p = api.wait();
    const t0 = Date.now();
    t.blackHole();
    await expect(p).rejects.toMatchObject({ name: 'DisconnectedError', message: expect.stringMatching(/not connected.*heartbeat/) });
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(3000); // loose: the design budget is 2 s (1.5 s silence + one check period)
    s.close();
  });

  it('a peer that never completes the handshake is closed', async () => {
    const [c, s] = T.createLocalLinkPair();
    const server = T.expose(s, { async x() { return 1; } }, ['x'], { auth: { token: 't' }, handshakeTimeoutMs: 200 });
    void c;
    await expect(server.ready).rejects.toMatchObject({ name: 'AuthError' });
    await s.closed;
  });

  it('a call frame before authentication closes the link with AuthError and runs nothing', async () => {
    const [c, s] = T.createLocalLinkPair();
    let ran = false;
    const server = T.expose(s, { async x() { ran = true; } }, ['x'], { auth: { token: 't' } });
    const w = new T.RpcPeer(c, { role: 'server', auth: 'none' }); // wrong role: never says HELLO
    void w;
    // a hand-made REQUEST for x
    c.send(Uint8Array.of(0x10, 1, 0, 1, 0x78, 0x09, 0));
    await expect(server.ready).rejects.toMatchObject({ name: 'AuthError' });
    await s.closed;
    expect(ran).toBe(false);
  });

  it('the token never appears in any frame, either way, and errors do not mention it', async () => {
    const token = 'super-secret-token-0123456789';
    const [c, s] = T.createLocalLinkPair();
    const tc = tap(c);
    const ts = tap(s);
    const errs: Error[] = [];
    T.expose(ts.link, { async hi() { return 'hi'; } }, ['hi'], { auth: { token }, onError: (e) => errs.push(e) });
    const api = T.connect<{ hi(): Promise<string> }>(tc.link, { auth: { token, identity: { name: 'a' } } });
    expect(await api.hi()).toBe('hi');
    // and a failed attempt
    const [c2, s2] = T.createLocalLinkPair();
    const tc2 = tap(c2);
    T.expose(s2, { async hi() { return 'hi'; } }, ['hi'], { auth: { token }, onError: (e) => errs.push(e) });
    const bad = T.connect<{ hi(): Promise<string> }>(tc2.link, { auth: { token: token + 'x' } });
    const e = (await bad.hi().catch((x: unknown) => x)) as Error;
    expect(e.name).toBe('AuthError');
    const needle = new TextEncoder().encode(token);
    for (const f of [...tc.sent, ...ts.sent, ...tc2.sent]) expect(contains(f, needle)).toBe(false);
    for (const x of [e, ...errs]) expect(`${x.message} ${x.stack}`).not.toContain(token);
    T.peerOf(api).close();
  });

  it('frames out of order close the link with ProtocolError', async () => {
    const frames: Array<[string, Uint8Array]> = [
      ['result for a call never made', Uint8Array.of(0x11, 5, 0, 0)],
      ['data for a call never made', Uint8Array.of(0x14, 9, 0, 0, 1, 2, 3)],
      ['credit for a call never made', Uint8Array.of(0x15, 9, 0, 0, 100)],
      ['cancel for a call never made', Uint8Array.of(0x13, 9)],
      ['unknown frame type', Uint8Array.of(0x7e)],
      ['a second HELLO', Uint8Array.of(0x01, 1, ...new Uint8Array(32), 0x0a, 0)],
    ];
    for (const [what, frame] of frames) {
      const [c, s] = T.createLocalLinkPair();
      const errs: Error[] = [];
      const server = T.expose(s, { async x() {} }, ['x'], { auth: 'none', onError: (e) => errs.push(e) });
      const client = new T.RpcPeer(c, { role: 'client', auth: 'none' });
      await client.ready;
      await server.ready;
      c.send(frame);
      await new Promise<void>((r) => server.onClose(() => r()));
      expect(errs.map((e) => e.name), what).toEqual(['ProtocolError']);
    }
    // request ids must increase
    const [c, s] = T.createLocalLinkPair();
    const errs: Error[] = [];
    const server = T.expose(s, { async x() { return 1; } }, ['x'], { auth: 'none', onError: (e) => errs.push(e) });
    const client = new T.RpcPeer(c, { role: 'client', auth: 'none' });
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
    T.expose(s, impl, ['get'], { auth: 'none', contextArg: { get: 2 } });
    const api = T.connect<typeof impl>(c, { auth: 'none', timeoutMs: 5000 });
    expect(await api.get(1)).toEqual({ a: 1, b: 5, left: true, method: 'get' });
    expect(await api.get(1, 2)).toEqual({ a: 1, b: 2, left: true, method: 'get' });
  });
});

describe('raw forwarding through a relay (call ids rewritten, payloads never decoded)', () => {
  async function relaySetup(linkPair: () => Promise<[Link, Link]>) {
    const seen: Record<string, unknown> = {};
    const runtimeImpl = {
      async echo(x: unknown) {
        return x;
      },
      async sum(b: Uint8Array) {
        return digest(b);
      },
      async bytes(n: number) {
        return pattern(n, 4);
      },
      async stream(n: number) {
        return new T.ByteStream((async function* () {
          for (let i = 0; i < n; i++) yield pattern(100_000, i);
        })());
      },
      async consume(s: AsyncIterable<Uint8Array>) {
        let n = 0;
        for await (const c of s) n += c.length;
        return n;
      },
      async ctx() {
        const c = T.currentCall()!;
        return { left: c.timeLeftMs(), who: c.identity };
      },
      async wait(key: string) {
        const c = T.currentCall()!;
        seen[key] = 'started';
        await new Promise<void>((r) => c.signal.addEventListener('abort', () => r()));
        seen[key] = (c.signal.reason as Error).name;
      },
      async seenKey(key: string) {
        return seen[key];
      },
      async fail() {
        throw new T.NotFoundError('file not found or corrupted', { details: { f: 1 } });
      },
    };
    const methods = Object.keys(runtimeImpl);
    // runtime <-> relay
    const [rt, relayRt] = await linkPair();
    const runtimeSide = T.expose(rt, runtimeImpl, methods, { role: 'client', auth: { token: 'rt-token', identity: { role: 'runtime', name: 'rt1' } } });
    const relayToRuntime = new T.RpcPeer(relayRt, { role: 'server', auth: { lookup: (id) => (id.name === 'rt1' ? 'rt-token' : undefined) } });
    await relayToRuntime.ready;
    // client <-> relay: the relay serves its own method and forwards the rest (allow-listed) to the runtime
    const [cl, relayCl] = await linkPair();
    const relayToClient = T.expose(relayCl, { async relayInfo() { return 'relay'; } }, ['relayInfo'], {
      auth: { lookup: (id) => (id.name === 'exp' ? 'cl-token' : undefined) },
      forward: (method) => (methods.includes(method) ? relayToRuntime : undefined),
    });
    const api = T.connect<typeof runtimeImpl & { relayInfo(): Promise<string> }>(cl, {
      auth: { token: 'cl-token', identity: { role: 'client', name: 'exp' } },
      timeoutMs: 20_000,
    });
    await T.peerOf(api).ready;
    return { api, runtimeSide, relayToRuntime, relayToClient, rt, cl };
  }

  const local = async () => T.createLocalLinkPair();

  it('values, bytes both ways (byte-exact), streams both ways, typed errors, refusals', async () => {
    const { api, relayToClient, relayToRuntime } = await relaySetup(local);
    expect(await api.relayInfo()).toBe('relay');
    expect(await api.echo({ a: [1, 'b', null] })).toEqual({ a: [1, 'b', null] });
    const up = pattern(30 * 1024 * 1024 + 1, 9);
    expect(await api.sum(up)).toBe(digest(up));
    expect(digest(await api.bytes(30 * 1024 * 1024 + 1))).toBe(digest(pattern(30 * 1024 * 1024 + 1, 4)));
    let n = 0;
    for await (const c of await api.stream(50)) n += c.length;
    expect(n).toBe(50 * 100_000);
    expect(await api.consume(new T.ByteStream((function* () { for (let i = 0; i < 40; i++) yield new Uint8Array(100_000); })()))).toBe(4_000_000);
    await expect(api.fail()).rejects.toMatchObject({ name: 'NotFoundError', details: { f: 1 } });
    await expect(T.peerOf(api).call('constructor', [])).rejects.toMatchObject({ name: 'RefusedMethodError' });
    await expect(T.peerOf(api).call('notForwarded', [])).rejects.toMatchObject({ name: 'RefusedMethodError' });
    // the caller's identity at the runtime is the relay's (the relay authenticated it); the deadline passes through
    const ctx = await T.withOptions(api, { timeoutMs: 7000 }).ctx();
    expect(ctx.left).toBeGreaterThan(6000);
    expect(ctx.left).toBeLessThanOrEqual(7000);
    await Promise.all(Array.from({ length: 500 }, (_, i) => api.echo(i).then((v) => expect(v).toBe(i))));
    // routes are dropped once calls finish
    expect(relayToClient.routeCount + relayToRuntime.routeCount).toBe(0);
  });

  it('cancellation crosses the relay; a runtime drop fails the forwarded calls with DisconnectedError', async () => {
    const { api, rt, relayToClient } = await relaySetup(local);
    const ac = new AbortController();
    const p = T.withOptions(api, { signal: ac.signal }).wait('k');
    for (let i = 0; i < 100 && (await api.seenKey('k')) !== 'started'; i++) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'CancelledError' });
    for (let i = 0; i < 100 && (await api.seenKey('k')) === 'started'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await api.seenKey('k')).toBe('CancelledError');
    const pending = api.wait('k2');
    for (let i = 0; i < 100 && (await api.seenKey('k2')) !== 'started'; i++) await new Promise((r) => setTimeout(r, 5));
    rt.close('runtime went away');
    await expect(pending).rejects.toMatchObject({ name: 'DisconnectedError', message: expect.stringMatching(/not connected/) });
    await expect(api.echo(1)).rejects.toMatchObject({ name: 'DisconnectedError' });
    expect(relayToClient.state).toBe('ready'); // the client's own link to the relay is fine
  });

  it('over WebSocket links too', async () => {
    const queue: Array<(l: Link) => void> = [];
    const server = await T.createWsServer({ onLink: (l) => queue.shift()!(l) });
    const wsPair = async (): Promise<[Link, Link]> => {
      const s = new Promise<Link>((r) => queue.push(r));
      const c = await T.connectWs(server.url);
      return [c, await s];
    };
    const { api, cl, rt } = await relaySetup(wsPair);
    const up = pattern(20 * 1024 * 1024 + 7, 2);
    expect(await api.sum(up)).toBe(digest(up));
    expect(digest(await api.bytes(20 * 1024 * 1024 + 7))).toBe(digest(pattern(20 * 1024 * 1024 + 7, 4)));
    cl.close();
    rt.close();
    await server.close();
  });
});

describe('large values and the portable WebSocket link', () => {
  it('a value bigger than a frame travels as an external part (plain and compressed, both ways)', async () => {
    const [c, s] = T.createLocalLinkPair();
    const small = { maxFrameSize: 64 * 1024, chunkSize: 16 * 1024 };
    T.expose(s, { async echo(x: unknown) { return x; } }, ['echo'], { auth: 'none', ...small });
    const api = T.connect<{ echo(x: unknown): Promise<unknown> }>(c, { auth: 'none', ...small });
    const paths = Array.from({ length: 20_000 }, (_, i) => `/data/session/scan_${String(i).padStart(6, '0')}.dcm`);
    expect(await api.echo(paths)).toEqual(paths);
    expect(await T.withOptions(api, { compress: true }).echo(paths)).toEqual(paths);
  });

  it('BrowserWebSocketLink (W3C WebSocket API; here ws in its W3C mode) against the Node server', async () => {
    const { WebSocket } = await import('ws');
    const server = await T.createWsServer({
      onLink: (l) => T.expose(l, { async echo(x: unknown) { return x; }, async sum(b: Uint8Array) { return digest(b); } }, ['echo', 'sum'], { auth: { token: 'b' } }),
    });
    const link = new T.BrowserWebSocketLink(new WebSocket(server.url) as unknown as ConstructorParameters<typeof T.BrowserWebSocketLink>[0]);
    await link.opened;
    const api = T.connect<{ echo(x: unknown): Promise<unknown>; sum(b: Uint8Array): Promise<number> }>(link, { auth: { token: 'b' } });
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
      T.expose(s, { async len(b: Uint8Array) { return b.length; } }, ['len'], { auth: 'none' });
      const api = T.connect<{ len(b: Uint8Array): Promise<number> }>(t.link, { auth: 'none' });
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
