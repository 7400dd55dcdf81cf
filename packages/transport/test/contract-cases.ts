// The contract every Link must pass, written against the module's public API passed in (`T`), so
// the same cases run under vitest on src/ (local, ws) and in a child process on dist/ (WebRTC,
// inside its own network namespace). Assertions use node:assert so they work in both places.
import assert from 'node:assert/strict';
import type * as Transport from '../src/node.js';
import type { Link } from '../src/link.js';
import { linkSignaler } from './signaling.mjs';

export type TransportModule = typeof Transport;

export interface Env {
  T: TransportModule;
  /** A fresh connected pair: [client side, server side]. */
  pair(): Promise<[Link, Link]>;
  /** Size of the "large payload" case, bytes. */
  bigBytes: number;
  /** Rounds of the fuzz case (default 50). */
  fuzzRounds?: number;
  /** RpcPeer options both ends use on this link (WebRTC: the heartbeat). */
  peer?: Record<string, unknown>;
}

export interface Case {
  name: string;
  run(env: Env): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A service with the shapes the cases need. */
function makeService(T: TransportModule) {
  const seen: Record<string, unknown> = {};
  const svc = {
    seen,
    async echo(...args: unknown[]) {
      return args.length === 1 ? args[0] : args;
    },
    async bytes(n: number, seed: number) {
      return pattern(n, seed);
    },
    async sum(b: Uint8Array) {
      return { length: b.length, digest: digest(b) };
    },
    async deadline() {
      const ctx = T.currentCall()!;
      return { timeLeft: ctx.timeLeftMs(), deadline: ctx.deadline };
    },
    async wait(ms: number, key: string) {
      const ctx = T.currentCall()!;
      seen[key] = 'started';
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          seen[key] = (ctx.signal.reason as Error)?.name ?? 'aborted';
          resolve();
        });
      });
      return seen[key] === 'started' ? 'done' : 'aborted';
    },
    async seenKey(key: string) {
      return seen[key];
    },
    async fail(kind: string) {
      if (kind === 'validation') throw new T.ValidationError('/etc/passwd not within list of allowed directories', { details: { path: '/etc/passwd' } });
      if (kind === 'notfound') throw new T.NotFoundError('file not found or corrupted');
      if (kind === 'timeout') throw new T.TimeoutError('no image within 5 s');
      if (kind === 'state') throw new T.StateError('StreamID mismatch');
      if (kind === 'plain') throw new TypeError('boom');
      throw 'a string';
    },
    async stream(chunks: number, size: number) {
      return new T.ByteStream(
        (async function* () {
          for (let i = 0; i < chunks; i++) yield pattern(size, i);
        })(),
      );
    },
    async consume(s: AsyncIterable<Uint8Array>) {
      let n = 0;
      let d = 0;
      for await (const c of s) {
        n += c.length;
        d = (d + digest(c)) % 2 ** 31;
      }
      return { n, d };
    },
    notAFunction: 42,
    _private() {
      return 'secret';
    },
  };
  return svc;
}

const METHODS = ['echo', 'bytes', 'sum', 'deadline', 'wait', 'seenKey', 'fail', 'stream', 'consume'];

/** Deterministic bytes (fast: 32-bit writes). */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  for (let i = words.length * 4; i < n; i++) out[i] = i & 0xff;
  return out;
}

export function digest(b: Uint8Array): number {
  // Cheap but position-sensitive checksum over 32-bit words plus the tail.
  if (b.byteOffset % 4) b = b.slice(); // received bytes may be an unaligned view
  const words = new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 16777619) >>> 0;
  for (let i = words.length * 4; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619) >>> 0;
  return h;
}

async function setup(env: Env, serverOpts: Record<string, unknown> = {}, clientOpts: Record<string, unknown> = {}) {
  const { T } = env;
  const [c, s] = await env.pair();
  const svc = makeService(T);
  const server = T.expose(s, svc, METHODS, { ...env.peer, ...serverOpts });
  const api = T.connect<ReturnType<typeof makeService>>(c, { ...env.peer, timeoutMs: 20_000, ...clientOpts });
  const client = T.peerOf(api);
  await client.ready;
  return { api, client, server, svc, c, s };
}

async function rejects(p: Promise<unknown>, name: string, message?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.equal((e as Error).name, name, `expected ${name}, got ${(e as Error).name}: ${(e as Error).message}`);
    if (message) assert.match((e as Error).message, message);
    return e as Error;
  }
  assert.fail(`expected ${name}, but it resolved`);
}

export const cases: Case[] = [
  {
    name: 'round trip of every value type',
    async run(env) {
      const { api, client } = await setup(env);
      const values: unknown[] = [
        undefined,
        null,
        true,
        false,
        0,
        -0,
        1,
        -1,
        2 ** 53 - 1,
        -(2 ** 53 - 1),
        2 ** 60,
        3.25,
        NaN,
        Infinity,
        -Infinity,
        0n,
        -(2n ** 200n) + 7n,
        2n ** 64n,
        '',
        'plain',
        'ünïcödé ✓ 𝄞',
        'x'.repeat(100_000),
        new Uint8Array(0),
        new Uint8Array([0, 1, 255]),
        pattern(20_000, 1),
        new Float32Array([1.5, -2.25]),
        new Int16Array([-3, 4]),
        new Float64Array([Math.PI]),
        new BigInt64Array([-5n]),
        new Date(1_700_000_000_123),
        [],
        {},
        [1, [2, [3, [4]]]],
        { a: 1, nested: { b: [true, null, 'c'] }, bytes: new Uint8Array([9]) },
        JSON.parse('{"__proto__": {"polluted": 1}, "constructor": "x"}'),
        Array.from({ length: 1000 }, (_, i) => `/data/scan/file_${i}.dcm`),
      ];
      for (const v of values) {
        const back = await api.echo(v);
        assert.deepEqual(back, v);
        if (typeof v === 'number') assert.ok(Object.is(back, v), `number ${v} kept exactly`);
      }
      const proto = (await api.echo(JSON.parse('{"__proto__": {"polluted": 1}}'))) as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(proto), Object.prototype);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.deepEqual(Object.keys(proto), ['__proto__']);
      // several arguments arrive in order, trailing undefined kept
      assert.deepEqual(await api.echo(1, 'two', undefined), [1, 'two', undefined]);
      // values that cannot travel are refused at the sender with a typed error
      await rejects(api.echo(() => 1), 'ValidationError');
      await rejects(api.echo(new Map()), 'ValidationError');
      await rejects(api.echo(Symbol('x')), 'ValidationError');
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await rejects(api.echo(cyclic), 'ValidationError');
      client.close();
    },
  },
  {
    name: 'typed errors cross the wire with name, code, message and details',
    async run(env) {
      const { api, client, svc } = await setup(env);
      void svc;
      const e = await rejects(api.fail('validation'), 'ValidationError', /not within list of allowed directories/);
      assert.ok(e instanceof env.T.ValidationError);
      assert.ok(e instanceof env.T.RtfmriError);
      assert.equal((e as InstanceType<TransportModule['ValidationError']>).code, 'VALIDATION');
      assert.deepEqual((e as InstanceType<TransportModule['ValidationError']>).details, { path: '/etc/passwd' });
      assert.ok((await rejects(api.fail('notfound'), 'NotFoundError', /not found or corrupted/)) instanceof env.T.NotFoundError);
      await rejects(api.fail('timeout'), 'TimeoutError');
      await rejects(api.fail('state'), 'StateError', /StreamID mismatch/);
      await rejects(api.fail('plain'), 'RemoteError', /TypeError: boom/);
      await rejects(api.fail('string'), 'RtfmriError', /a string/);
      client.close();
    },
  },
  {
    name: '0-byte and large payloads byte-exact in both directions',
    async run(env) {
      const { api, client } = await setup(env);
      assert.equal(((await api.bytes(0, 1)) as Uint8Array).length, 0);
      assert.deepEqual(await api.sum(new Uint8Array(0)), { length: 0, digest: digest(new Uint8Array(0)) });
      const n = env.bigBytes + 3; // not a multiple of any chunk size
      const down = (await api.bytes(n, 7)) as Uint8Array;
      assert.equal(down.length, n);
      assert.equal(digest(down), digest(pattern(n, 7)));
      const up = pattern(n, 9);
      assert.deepEqual(await api.sum(up), { length: n, digest: digest(up) });
      // compression really compresses in transit, and round-trips exactly
      const zeros = new Uint8Array(3 * 1024 * 1024 + 5);
      zeros[12345] = 1;
      assert.deepEqual(await env.T.withOptions(api, { compress: true }).sum(zeros), { length: zeros.length, digest: digest(zeros) });
      assert.deepEqual(await env.T.withOptions(api, { compress: 'auto' }).sum(up.subarray(0, 2_000_000)), {
        length: 2_000_000,
        digest: digest(up.subarray(0, 2_000_000)),
      });
      client.close();
    },
  },
  {
    name: '1000 calls in flight on one link',
    async run(env) {
      const { api, client } = await setup(env);
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => api.echo(i % 7 === 0 ? pattern(30_000, i) : i)));
      results.forEach((r, i) => {
        if (i % 7 === 0) assert.equal(digest(r as Uint8Array), digest(pattern(30_000, i)));
        else assert.equal(r, i);
      });
      assert.equal(client.pendingCalls, 0);
      client.close();
    },
  },
  {
    name: 'deadline reaches the callee; a long wait is not cut by a shorter default',
    async run(env) {
      const { api, client } = await setup(env, {}, { timeoutMs: undefined, defaultTimeoutMs: 300 });
      const d = (await env.T.withOptions(api, { timeoutMs: 10_000 }).deadline()) as { timeLeft: number };
      assert.ok(d.timeLeft > 9_000 && d.timeLeft <= 10_000, `callee saw ${d.timeLeft} ms left`);
      // 600 ms of waiting with a 3 s deadline succeeds although the default would be 300 ms
      assert.equal(await env.T.withOptions(api, { timeoutMs: 3_000 }).wait(600, 'long'), 'done');
      // no deadline at all
      const inf = (await env.T.withOptions(api, { timeoutMs: Infinity }).deadline()) as { timeLeft: number };
      assert.equal(inf.timeLeft, Infinity);
      client.close();
    },
  },
  {
    name: 'caller timeout and cancellation reach the callee',
    async run(env) {
      const { api, client } = await setup(env);
      await rejects(env.T.withOptions(api, { timeoutMs: 150 }).wait(20_000, 't1'), 'TimeoutError');
      for (let i = 0; i < 100 && (await api.seenKey('t1')) === 'started'; i++) await sleep(20);
      // the caller's CANCEL or the callee's own copy of the deadline, whichever fires first
      assert.match(String(await api.seenKey('t1')), /^(CancelledError|TimeoutError)$/);
      const ac = new AbortController();
      const p = env.T.withOptions(api, { signal: ac.signal }).wait(20_000, 'c1');
      for (let i = 0; i < 100 && (await api.seenKey('c1')) !== 'started'; i++) await sleep(10);
      ac.abort();
      await rejects(p, 'CancelledError');
      for (let i = 0; i < 100 && (await api.seenKey('c1')) === 'started'; i++) await sleep(20);
      assert.equal(await api.seenKey('c1'), 'CancelledError');
      // the link is still good
      assert.equal(await api.echo('after'), 'after');
      client.close();
    },
  },
  {
    name: 'only allow-listed methods are served',
    async run(env) {
      const { api, client } = await setup(env);
      const any = api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      for (const m of ['constructor', '__proto__', '_private', 'toString', 'hasOwnProperty', 'valueOf', 'notAFunction', 'nope', '', 'seen', '__defineGetter__']) {
        await rejects(client.call(m, []), 'RefusedMethodError');
      }
      await rejects(any._private(), 'RefusedMethodError');
      // exposing a forbidden or non-function name is refused up front
      const [, s2] = await env.pair();
      assert.throws(() => env.T.expose(s2, { constructor() {} }, ['constructor']), /refusing/);
      s2.close();
      const [, s3] = await env.pair();
      assert.throws(() => env.T.expose(s3, { x: 1 }, ['x']), /not a method/);
      s3.close();
      assert.equal(await api.echo('still fine'), 'still fine');
      client.close();
    },
  },
  {
    name: 'streams flow with bounded buffering, both ways',
    async run(env) {
      const { api, client } = await setup(env, { streamWindow: 1 << 20 }, { streamWindow: 1 << 20 });
      const chunk = 64 * 1024;
      const s = (await api.stream(64, chunk)) as AsyncIterable<Uint8Array>;
      let n = 0;
      let d = 0;
      for await (const c of s) {
        n += c.length;
        d = (d + digest(c)) % 2 ** 31;
      }
      assert.equal(n, 64 * chunk);
      // what the sender produced in pieces is what arrived (chunks may be re-split, so compare totals)
      // upload: a generator the callee consumes; the sender must not run ahead of the window
      let produced = 0;
      let consumedByPeer = 0;
      const gen = (async function* () {
        for (let i = 0; i < 32; i++) {
          produced += chunk;
          yield pattern(chunk, i);
        }
      })();
      const r = (await api.consume(new env.T.ByteStream(gen))) as { n: number };
      consumedByPeer = r.n;
      assert.equal(consumedByPeer, 32 * chunk);
      assert.equal(produced, 32 * chunk);
      // a reader that stops early stops the sender
      const s2 = (await api.stream(10_000, chunk)) as AsyncIterable<Uint8Array>;
      let k = 0;
      for await (const c of s2) {
        void c;
        if (++k === 3) break;
      }
      assert.equal(await api.echo('ok'), 'ok');
      void d;
      client.close();
    },
  },
  {
    name: 'a dropped link fails every pending call at once with DisconnectedError',
    async run(env) {
      const { api, client, s } = await setup(env);
      const pending = Array.from({ length: 20 }, (_, i) => api.wait(30_000, `d${i}`));
      await sleep(50);
      const t0 = Date.now();
      s.close('server went away');
      const errs = await Promise.all(pending.map((p) => rejects(p, 'DisconnectedError', /not connected/)));
      const elapsed = Date.now() - t0;
      assert.equal(errs.length, 20);
      assert.ok(elapsed < 1000, `pending calls failed after ${elapsed} ms`);
      await rejects(api.echo(1), 'DisconnectedError', /not connected/);
      void client;
    },
  },
  {
    name: 'fuzzed frames: only ProtocolError and that link closed; another link keeps working',
    async run(env) {
      const { makeFuzzer } = await import('./fuzz-lib.js');
      const fz = makeFuzzer(env.T);
      const corpus = await fz.buildCorpus();
      const [hc, hs] = await env.pair();
      env.T.expose(hs, fz.impl, fz.METHODS, env.peer);
      const healthy = env.T.connect<typeof fz.impl>(hc, env.peer);
      const errors: Error[] = [];
      const r = fz.rng(99);
      for (let i = 0; i < (env.fuzzRounds ?? 50); i++) await fz.fuzzRound(env.pair, corpus, r, errors, 64 * 1024);
      for (const e of errors) {
        assert.equal(e.name, 'ProtocolError');
        assert.doesNotMatch(e.message, /^bad frame:/);
      }
      assert.ok(errors.length > 0, 'some frames were refused');
      assert.deepEqual(await healthy.echo('ok'), ['ok']);
      hc.close();
    },
  },
];

/**
 * A peer in another process is SIGKILLed while bytes flow both ways and a call hangs: every
 * operation must fail with DisconnectedError (ws: the socket closes; WebRTC: the heartbeat notices).
 */
export async function killedPeerCase(T: TransportModule, mode: 'ws' | 'webrtc', childScript: string): Promise<{ detectMs: number }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [childScript, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (d) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)).url);
      });
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const ws = await T.connectWs(url);
    let link: Link = ws;
    // WebRTC: the ws link carries only the signaling; the RPC runs on the data channel, with its
    // heartbeat (nothing else would notice a peer that vanished without closing anything).
    if (mode === 'webrtc') link = await T.connectWebRtc({ signaler: linkSignaler(ws) });
    type Child = {
      consume(s: AsyncIterable<Uint8Array>): Promise<number>;
      produce(chunk: number): Promise<AsyncIterable<Uint8Array>>;
      hang(): Promise<void>;
    };
    const api = T.connect<Child>(link, { timeoutMs: 60_000, heartbeat: mode === 'webrtc' });
    await T.peerOf(api).ready;
    let killedAt = 0;
    let produced = 0;
    const up = api.consume(
      new T.ByteStream(
        (async function* () {
          for (;;) {
            produced += 64 * 1024;
            if (produced > 8 * 1024 * 1024 && !killedAt) {
              killedAt = Date.now();
              child.kill('SIGKILL');
            }
            yield new Uint8Array(64 * 1024);
          }
        })(),
      ),
    );
    const hang = api.hang();
    const down = (async () => {
      let n = 0;
      for await (const c of await api.produce(64 * 1024)) n += c.length;
      return n;
    })();
    const settled = await Promise.allSettled([up, hang, down]);
    const detectMs = Date.now() - killedAt;
    assert.ok(killedAt > 0, 'the child was killed mid-transfer');
    for (const s of settled) {
      assert.equal(s.status, 'rejected');
      const e = (s as PromiseRejectedResult).reason as Error;
      assert.equal(e.name, 'DisconnectedError', `${e.name}: ${e.message}`);
      assert.match(e.message, /not connected/);
    }
    // dead peer detected within the heartbeat budget (2 s) even without a socket close
    assert.ok(detectMs < 2500, `failure noticed after ${detectMs} ms`);
    ws.close();
    link.close();
    return { detectMs };
  } finally {
    child.kill('SIGKILL');
  }
}
