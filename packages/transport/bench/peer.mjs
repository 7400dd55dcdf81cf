// Benchmark peers (two processes per link). Loads the compiled dist/.
//   node peer.mjs serve            -> RPC ws server + bare ws echo server + WebRTC (signaling on a ws of its own)
//   node peer.mjs client <json>    -> runs the cases against a server; prints "RESULT {...}" lines
//   node peer.mjs local            -> the local (in-process) link
import { WebSocket, WebSocketServer } from 'ws';
// The bench compiles its own copy (bench/index.ts sets RTFMRI_TRANSPORT_DIST) so that a concurrent
// `turbo run build` rewriting dist/ cannot break a run half-way; alone, peer.mjs loads dist/.
const T = await import(process.env.RTFMRI_TRANSPORT_DIST ? new URL('node.js', `file://${process.env.RTFMRI_TRANSPORT_DIST}/`).href : '../dist/node.js');
const { linkSignaler } = await import('../test/signaling.mjs');

const MiB = 1024 * 1024;
const cache = new Map();
const bytes = (n) => {
  let b = cache.get(n);
  if (!b) {
    b = new Uint8Array(n);
    for (let i = 0; i < n; i += 4096) b[i] = i & 0xff;
    cache.set(n, b);
  }
  return b;
};

// Peak RSS since the last reset, sampled every 5 ms (resourceUsage().maxRSS is a lifetime peak).
let peak = 0;
let base = 0;
setInterval(() => {
  const r = process.memoryUsage.rss();
  if (r > peak) peak = r;
}, 5).unref();
const resetPeak = () => {
  globalThis.gc?.();
  base = process.memoryUsage.rss();
  peak = base;
  return base;
};
const memory = () => ({ base, peak: Math.max(peak, process.memoryUsage.rss()) });

const service = {
  async ping() {
    return 0;
  },
  async get(n) {
    return bytes(n);
  },
  async put(b) {
    return b.length;
  },
  async down(total, chunk) {
    const c = bytes(chunk);
    return new T.ByteStream(
      (function* () {
        for (let sent = 0; sent < total; sent += chunk) yield sent + chunk <= total ? c : c.subarray(0, total - sent);
      })(),
    );
  },
  async up(stream) {
    let n = 0;
    for await (const c of stream) n += c.length;
    return n;
  },
  async resetPeak() {
    return resetPeak();
  },
  async memory() {
    return memory();
  },
  async hang() {
    await new Promise(() => {});
  },
};
const METHODS = Object.keys(service);

// ---- bare ws baseline protocol: 1st byte = command --------------------------------------------
// p: ping (echo) | g<u32 n>: send n bytes | u...: upload, reply 'a' | s<f64 total>: stream total bytes in 1 MiB
// messages, then 'e' | r: reset peak (reply 'a') | m: reply memory JSON
function bareServer(ws) {
  ws.on('message', async (data) => {
    const cmd = data[0];
    if (cmd === 0x70) ws.send(data);
    else if (cmd === 0x67) ws.send(bytes(data.readUInt32LE(1)));
    else if (cmd === 0x75) ws.send(Buffer.from('a'));
    else if (cmd === 0x72) {
      resetPeak();
      ws.send(Buffer.from('a'));
    } else if (cmd === 0x6d) ws.send(Buffer.from(JSON.stringify(memory())));
    else if (cmd === 0x73) {
      const total = data.readDoubleLE(1);
      const chunk = bytes(MiB);
      for (let sent = 0; sent < total; sent += MiB) {
        if (ws.bufferedAmount > 8 * MiB) await new Promise((r) => ws._socket.once('drain', r));
        ws.send(chunk);
      }
      ws.send(Buffer.from('e'));
    } else if (cmd === 0x55) {
      // upload stream: count bytes until 'E' arrives (handled by the byte counter below)
    }
  });
}

async function serve() {
  const keep = new Set();
  const rpc = await T.createWsServer({ onLink: (link) => T.expose(link, service, METHODS) });
  // WebRTC signaling on a ws of its own (the relay's SIGNAL frames in the product); the data
  // channel serves the same methods, with the heartbeat the product runs on a data channel.
  const sig = await T.createWsServer({
    onLink: (link) =>
      T.acceptWebRtc(linkSignaler(link), (rtc) => {
        keep.add(rtc);
        void rtc.closed.then(() => keep.delete(rtc));
        T.expose(rtc, service, METHODS, { heartbeat: true });
      }),
  });
  const bare = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 128 * MiB, allowSynchronousEvents: true });
  let uploaded = 0;
  bare.on('connection', (ws) => {
    bareServer(ws);
    ws.on('message', (d) => {
      if (d[0] === 0x55) uploaded = 0;
      else if (d[0] === 0x45) ws.send(Buffer.from(String(uploaded)));
      else if (d[0] === 0x44) uploaded += d.length;
    });
  });
  await new Promise((r) => bare.once('listening', r));
  process.stdout.write(JSON.stringify({ rpc: rpc.url, sig: sig.url, bare: `ws://127.0.0.1:${bare.address().port}`, pid: process.pid }) + '\n');
}

// ---- measuring --------------------------------------------------------------------------------
const now = () => performance.now();
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const results = [];
const emit = (link, kase, metric, value, unit, note) => {
  const r = { package: 'transport', case: `${link}: ${kase}`, metric, value, unit, ...(note ? { note } : {}) };
  results.push(r);
  process.stdout.write('RESULT ' + JSON.stringify(r) + '\n');
};

async function timeit(n, warm, f) {
  for (let i = 0; i < warm; i++) await f(i);
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    await f(i);
    xs.push(now() - t);
  }
  return xs;
}

/** The RPC cases over any link whose server end runs `service`. */
async function rpcCases(name, api, opts) {
  const { big = 64 * MiB, streamTotal = 1024 * MiB, pings = 3000, small = 300, bigIters = 5, warmPings = 300, warmSmall = 30 } = opts;
  const on = caseFilter(opts);
  // streamed transfers first, while both processes are fresh: RSS growth is then meaningful
  // streamed transfer, both directions, with peak RSS growth on both ends
  for (const dir of on('stream') ? ['download', 'upload'] : []) {
    globalThis.gc?.();
    await api.resetPeak();
    resetPeak();
    const t = now();
    let n = 0;
    if (dir === 'download') {
      for await (const c of await api.down(streamTotal, MiB)) n += c.length;
    } else {
      const chunk = bytes(MiB);
      n = await api.up(
        new T.ByteStream(
          (function* () {
            for (let s = 0; s < streamTotal; s += MiB) yield chunk;
          })(),
        ),
      );
    }
    const ms = now() - t;
    if (n !== streamTotal) throw new Error(`streamed ${n} of ${streamTotal}`);
    const remote = await api.memory();
    const local = memory();
    const label = `${streamTotal / MiB} MiB streamed ${dir}`;
    emit(name, label, 'throughput', streamTotal / ms / 1e3, 'MB/s');
    emit(name, label, 'client RSS growth', (local.peak - local.base) / MiB, 'MiB');
    emit(name, label, 'server RSS growth', (remote.peak - remote.base) / MiB, 'MiB');
  }
  if (on('ping')) {
    const ping = await timeit(pings, warmPings, () => api.ping());
    emit(name, 'ping RTT', 'p50', pct(ping, 50) * 1000, 'us');
    emit(name, 'ping RTT', 'p99', pct(ping, 99) * 1000, 'us');
  }
  if (on('k457')) {
    const K457 = 457 * 1024;
    const up457 = bytes(K457);
    const g = await timeit(small, warmSmall, () => api.get(K457));
    emit(name, '457 KB download (call+reply)', 'p50', pct(g, 50), 'ms');
    emit(name, '457 KB download (call+reply)', 'p99', pct(g, 99), 'ms');
    const u = await timeit(small, warmSmall, () => api.put(up457));
    emit(name, '457 KB upload (call+reply)', 'p50', pct(u, 50), 'ms');
    emit(name, '457 KB upload (call+reply)', 'p99', pct(u, 99), 'ms');
  }
  if (on('big')) {
    const upBig = bytes(big);
    const gb = await timeit(bigIters, 1, () => api.get(big));
    emit(name, `${big / MiB} MiB download`, 'p50', pct(gb, 50), 'ms', `${((big / pct(gb, 50)) * 1e3 / 1e6).toFixed(0)} MB/s`);
    const ub = await timeit(bigIters, 1, () => api.put(upBig));
    emit(name, `${big / MiB} MiB upload`, 'p50', pct(ub, 50), 'ms', `${((big / pct(ub, 50)) * 1e3 / 1e6).toFixed(0)} MB/s`);
  }
}

/** `opts.cases` (a list of 'stream', 'ping', 'k457', 'big') limits a run to those cases; default all. */
function caseFilter(opts) {
  const only = opts.cases ? new Set(opts.cases) : null;
  return (c) => !only || only.has(c);
}

async function bareCases(url, opts) {
  const { big = 64 * MiB, streamTotal = 1024 * MiB, pings = 3000, small = 300, bigIters = 5, warmPings = 300, warmSmall = 30 } = opts;
  const name = 'bare ws';
  const on = caseFilter(opts);
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: 128 * MiB,
    allowSynchronousEvents: true,
    // the same zero mask the RPC client uses on loopback (ws then skips masking)
    generateMask: (m) => void m.fill(0),
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  let waiter = null;
  const queue = [];
  ws.on('message', (d) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(d);
    } else queue.push(d);
  });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => (waiter = r)));
  const req = (buf) => {
    ws.send(buf);
    return next();
  };
  // streamed 1 MiB messages
  if (on('stream')) {
    await req(Buffer.from('r'));
    resetPeak();
    const b = Buffer.alloc(9);
    b[0] = 0x73;
    b.writeDoubleLE(streamTotal, 1);
    const t = now();
    ws.send(b);
    let n = 0;
    for (;;) {
      const d = await next();
      if (d.length === 1 && d[0] === 0x65) break;
      n += d.length;
    }
    const ms = now() - t;
    const remote = JSON.parse((await req(Buffer.from('m'))).toString());
    const local = memory();
    const label = `${streamTotal / MiB} MiB streamed download`;
    emit(name, label, 'throughput', n / ms / 1e3, 'MB/s', '1 MiB messages, bufferedAmount-paced');
    emit(name, label, 'client RSS growth', (local.peak - local.base) / MiB, 'MiB');
    emit(name, label, 'server RSS growth', (remote.peak - remote.base) / MiB, 'MiB');
  }
  if (on('stream')) {
    await req(Buffer.from('r'));
    resetPeak();
    const chunk = Buffer.alloc(MiB);
    chunk[0] = 0x44;
    const t = now();
    ws.send(Buffer.from('U'));
    for (let s = 0; s < streamTotal; s += MiB) {
      if (ws.bufferedAmount > 8 * MiB) await new Promise((r) => ws._socket.once('drain', r));
      ws.send(chunk);
    }
    const got = Number((await req(Buffer.from('E'))).toString());
    const ms = now() - t;
    if (got !== streamTotal) throw new Error(`bare upload got ${got}`);
    const remote = JSON.parse((await req(Buffer.from('m'))).toString());
    const local = memory();
    const label = `${streamTotal / MiB} MiB streamed upload`;
    emit(name, label, 'throughput', streamTotal / ms / 1e3, 'MB/s', '1 MiB messages, zero mask');
    emit(name, label, 'client RSS growth', (local.peak - local.base) / MiB, 'MiB');
    emit(name, label, 'server RSS growth', (remote.peak - remote.base) / MiB, 'MiB');
  }
  if (on('ping')) {
    const pingMsg = Buffer.from('p12345678');
    const ping = await timeit(pings, warmPings, () => req(pingMsg));
    emit(name, 'ping RTT', 'p50', pct(ping, 50) * 1000, 'us');
    emit(name, 'ping RTT', 'p99', pct(ping, 99) * 1000, 'us');
  }
  const getMsg = (n) => {
    const b = Buffer.alloc(5);
    b[0] = 0x67;
    b.writeUInt32LE(n, 1);
    return b;
  };
  const K457 = 457 * 1024;
  if (on('k457')) {
    const g = await timeit(small, warmSmall, () => req(getMsg(K457)));
    emit(name, '457 KB download (call+reply)', 'p50', pct(g, 50), 'ms');
    emit(name, '457 KB download (call+reply)', 'p99', pct(g, 99), 'ms');
    const up = Buffer.alloc(K457);
    up[0] = 0x75;
    const u = await timeit(small, warmSmall, () => req(up));
    emit(name, '457 KB upload (call+reply)', 'p50', pct(u, 50), 'ms');
    emit(name, '457 KB upload (call+reply)', 'p99', pct(u, 99), 'ms');
  }
  if (on('big')) {
    const gb = await timeit(bigIters, 1, () => req(getMsg(big)));
    emit(name, `${big / MiB} MiB download`, 'p50', pct(gb, 50), 'ms', `${((big / pct(gb, 50)) * 1e3 / 1e6).toFixed(0)} MB/s (one message)`);
    const upBig = Buffer.alloc(big);
    upBig[0] = 0x75;
    const ub = await timeit(bigIters, 1, () => req(upBig));
    emit(name, `${big / MiB} MiB upload`, 'p50', pct(ub, 50), 'ms', `${((big / pct(ub, 50)) * 1e3 / 1e6).toFixed(0)} MB/s (one message)`);
  }
  ws.close();
}

async function client(cfg) {
  const opts = cfg.opts ?? {};
  if (cfg.which === 'bare') {
    await bareCases(cfg.bare, opts);
  } else if (cfg.which === 'ws') {
    const link = await T.connectWs(cfg.rpc);
    const api = T.connect(link, { timeoutMs: 120_000 });
    await T.peerOf(api).ready;
    await rpcCases('rpc ws', api, opts);
    link.close();
  } else if (cfg.which === 'webrtc') {
    const ws = await T.connectWs(cfg.sig);
    const t0 = now();
    const link = await T.connectWebRtc({ signaler: linkSignaler(ws) });
    emit('rpc webrtc', 'data channel setup (signaling over ws)', 'time', now() - t0, 'ms');
    const api = T.connect(link, { timeoutMs: 300_000, heartbeat: true });
    await T.peerOf(api).ready;
    await rpcCases('rpc webrtc', api, opts);
    link.close();
    ws.close();
  } else if (cfg.which === 'kill') {
    // 100 calls pending when the server process is SIGKILLed: time until every one has failed
    for (const kind of cfg.kinds) {
      const { child, urls } = await startServer();
      const ws = await T.connectWs(kind === 'webrtc' ? urls.sig : urls.rpc);
      const link = kind === 'webrtc' ? await T.connectWebRtc({ signaler: linkSignaler(ws) }) : ws;
      const api = T.connect(link, { timeoutMs: 60_000, heartbeat: kind === 'webrtc' });
      await T.peerOf(api).ready;
      const calls = Array.from({ length: 100 }, () => api.hang().catch((e) => e));
      await new Promise((r) => setTimeout(r, 100));
      const t = now();
      child.kill('SIGKILL');
      const errs = await Promise.all(calls);
      const ms = now() - t;
      const names = [...new Set(errs.map((e) => e.name))].join(',');
      emit(`rpc ${kind}`, 'peer process SIGKILLed: 100 pending calls all failed', 'time', ms, 'ms', `${names}${kind === 'webrtc' ? '; noticed by the heartbeat (no socket close)' : '; socket closed'}`);
      link.close();
      ws.close();
    }
  } else if (cfg.which === 'local') {
    const [a, b] = T.createLocalLinkPair();
    T.expose(b, service, METHODS);
    const api = T.connect(a, { timeoutMs: 120_000 });
    // one process: server and client RSS are the same process
    await rpcCases('rpc local', api, opts);
  }
}

/** Start a `serve` child; resolves with its URLs. */
export async function startServer() {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, 'serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { child, urls };
}

const mode = process.argv[2];
if (mode === 'serve') {
  // a clean exit on SIGTERM writes --cpu-prof profiles (the bench itself uses SIGKILL)
  process.on('SIGTERM', () => process.exit(0));
  await serve();
}
else if (mode === 'netns-webrtc') {
  // Inside `unshare -n`: server child and this client share the namespace's loopback only.
  const { child, urls } = await startServer();
  try {
    await client({ which: 'webrtc', sig: urls.sig, opts: JSON.parse(process.argv[3] ?? '{}') });
  } finally {
    child.kill('SIGKILL');
  }
  process.exit(0);
}
else if (mode === 'client') {
  await client(JSON.parse(process.argv[3]));
  process.exit(0);
}
