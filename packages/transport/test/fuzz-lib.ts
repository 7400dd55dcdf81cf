// The fuzzer shared by fuzz.test.ts (thousands of rounds on local and ws links) and the contract
// (a few rounds on every link, WebRTC included), written against the module passed in.
import type { Link } from '../src/link.js';
import type { TransportModule } from './contract-cases.js';

export function makeFuzzer(T: TransportModule) {

const METHODS = ['echo', 'stream', 'sum'];
const impl = {
  async echo(...a: unknown[]) {
    return a;
  },
  async stream(n: number) {
    return new T.ByteStream((function* () {
      for (let i = 0; i < Math.min(Number(n) || 0, 4); i++) yield new Uint8Array(1000).fill(i);
    })());
  },
  async sum(b: unknown) {
    if (b instanceof Uint8Array) return b.length;
    for await (const c of b as AsyncIterable<Uint8Array>) void c;
    return -1;
  },
};

/** A Link wrapper that records what its user sends (to build a corpus of valid frames). */
function recording(link: Link, out: Uint8Array[]): Link {
  return new Proxy(link, {
    get(target, prop, recv) {
      if (prop === 'send') {
        return (d: Uint8Array | readonly Uint8Array[]) => {
          const parts = d instanceof Uint8Array ? [d] : d;
          let n = 0;
          for (const p of parts) n += p.length;
          const m = new Uint8Array(n);
          let o = 0;
          for (const p of parts) {
            m.set(p, o);
            o += p.length;
          }
          out.push(m);
          target.send(d);
        };
      }
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Capture the frames a real client sends during a varied session. */
async function buildCorpus(): Promise<Uint8Array[]> {
  const [c, s] = T.createLocalLinkPair();
  const frames: Uint8Array[] = [];
  T.expose(s, impl, METHODS, { inlineLimit: 512, chunkSize: 32 * 1024 });
  const api = T.connect<typeof impl>(recording(c, frames), { inlineLimit: 512, chunkSize: 32 * 1024, streamWindow: 8192 });
  await T.peerOf(api).ready;
  await api.echo(1, 'two', [3, { four: 4n }], null, undefined, new Float64Array([1.5]), new Date(0));
  await api.echo(new Uint8Array(10_000).fill(7));
  await T.withOptions(api, { compress: true }).echo(new Uint8Array(20_000));
  await T.withOptions(api, { compress: true }).echo('x'.repeat(5000));
  await api.sum(new T.ByteStream([new Uint8Array(3000), new Uint8Array(20_000)]));
  for await (const x of (await api.stream(3)) as AsyncIterable<Uint8Array>) void x;
  const ac = new AbortController();
  const p = T.withOptions(api, { signal: ac.signal }).echo(new Uint8Array(50_000));
  ac.abort();
  await p.catch(() => {});
  await T.peerOf(api).ping();
  await api.echo(Array.from({ length: 50 }, (_, i) => ({ [`k${i}`]: i })));
  await new Promise((r) => setTimeout(r, 20));
  c.close();
  return frames;
}

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function mutate(f: Uint8Array, r: () => number, maxFrame: number): Uint8Array {
  const int = (n: number) => Math.floor(r() * n);
  switch (int(9)) {
    case 0: {
      const m = f.slice();
      for (let k = 0, n = 1 + int(4); k < n; k++) m[int(m.length)] ^= 1 << int(8);
      return m;
    }
    case 1:
      return f.slice(0, int(f.length)); // truncated
    case 2: {
      const m = new Uint8Array(f.length + 1 + int(16));
      m.set(f);
      for (let i = f.length; i < m.length; i++) m[i] = int(256);
      return m; // trailing garbage
    }
    case 3:
      return Uint8Array.from({ length: 1 + int(64) }, () => int(256)); // random
    case 4: {
      const m = f.slice();
      m[0] = int(256); // random frame type
      return m;
    }
    case 5: {
      const m = f.slice();
      // big varints where ids and lengths live
      const at = 1 + int(Math.max(1, Math.min(8, m.length - 1)));
      const big = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
      const out = new Uint8Array(m.length + big.length);
      out.set(m.subarray(0, at));
      out.set(big, at);
      out.set(m.subarray(at), at + big.length);
      return out;
    }
    case 6:
      return new Uint8Array(maxFrame + 1 + int(1000)); // oversized
    case 7: {
      const m = f.slice();
      if (m.length > 2) m[1] = 0x7f; // out-of-order / unknown call id
      return m;
    }
    default: {
      const m = f.slice();
      for (let i = 1; i < m.length; i++) if (r() < 0.05) m[i] = int(256);
      return m;
    }
  }
}

let stuck = 0;
async function fuzzRound(
  pair: () => Promise<[Link, Link]>,
  corpus: Uint8Array[],
  r: () => number,
  errors: Error[],
  maxFrame: number,
): Promise<'closed' | 'open'> {
  const [c, s] = await pair();
  const server = T.expose(s, impl, METHODS, { maxFrameSize: maxFrame, onError: (e) => errors.push(e) });
  const serverClosed = new Promise<'closed'>((res) => server.onClose(() => res('closed')));
  const inbox: Uint8Array[] = [];
  c.onMessage((m) => inbox.push(m));
  // a valid prefix of the session, then one mutated frame, then a ping to see if it is alive
  const k = Math.floor(r() * Math.min(corpus.length, 12));
  try {
    for (let i = 0; i < k; i++) c.send(corpus[i]);
    c.send(mutate(corpus[Math.floor(r() * corpus.length)], r, maxFrame));
    // twice: a mutated DATA header may announce a raw payload, which the first ping then is
    c.send(Uint8Array.of(0x06, 0x2a));
    c.send(Uint8Array.of(0x06, 0x2a));
  } catch {
    // the server already closed us
  }
  let done = false;
  const alive = await Promise.race([
    serverClosed,
    new Promise<'open'>((resolve) => {
      const t0 = Date.now();
      const check = () => {
        if (done) return;
        if (inbox.some((m) => m[0] === 0x07 && m[1] === 0x2a)) resolve('open');
        else if (Date.now() - t0 > 2000) {
          stuck++;
          resolve('open');
        }
        else setTimeout(check, 1);
      };
      check();
    }),
  ]);
  done = true;
  c.close();
  s.close();
  return alive;
}

  return { impl, METHODS, buildCorpus, rng, fuzzRound, stuck: () => stuck };
}
