// Remote-only behaviour over the real relay on loopback: missing runtime, end-to-end deadline,
// runtime killed mid-stream and restarted, relay restarted, auth, hijack, bad input.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRuntimeServer, type RuntimeServer } from '@rtfmri/runtime';
import { RelayClient } from '@rtfmri/relay/protocol';
import { RpcPeer, RtfmriError } from '@rtfmri/transport';
import { connectWs } from '@rtfmri/transport/node';
import { AuthError, DataInterface, DisconnectedError, hostRelay, type HostedRelay } from '../src/index.js';
import { CLIENT_TOKEN, cliPath, sleep, tmpDir, TOKEN, writeVolume, failure } from './harness.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


async function relayWithLog(opts: { port?: number; tokens?: unknown; deadAfterMs?: number } = {}): Promise<{ relay: HostedRelay; log: string[] }> {
  const log: string[] = [];
  const relay = await hostRelay({
    token: opts.tokens ? undefined : TOKEN,
    tokens: opts.tokens,
    port: opts.port,
    log: (l) => log.push(l),
    ...(opts.deadAfterMs ? { deadAfterMs: opts.deadAfterMs, heartbeatMs: opts.deadAfterMs / 4 } : {}),
  });
  cleanups.push(() => relay.close());
  return { relay, log };
}

function client(url: string, extra: Partial<ConstructorParameters<typeof DataInterface>[0]> = {}): DataInterface {
  const di = new DataInterface({ dataRemote: true, url, token: CLIENT_TOKEN, name: 'scanner1', ...extra });
  cleanups.push(() => di.close());
  return di;
}

async function runtime(url: string, dir: string, extra: { name?: string; token?: string; onFatal?: (e: Error) => void } = {}): Promise<RuntimeServer> {
  const rt = await startRuntimeServer({ connect: url, name: extra.name ?? 'scanner1', token: extra.token ?? TOKEN, allowedDirs: [dir], allowedFileTypes: ['.dcm', '.txt'], onFatal: extra.onFatal });
  cleanups.push(() => rt.close());
  return rt;
}

describe('remote DataInterface through the relay', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = tmpDir();
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('no runtime connected: calls fail at once with a clear DisconnectedError', async () => {
    const { relay } = await relayWithLog();
    const di = client(relay.url, { name: 'nobody-here' });
    const t0 = performance.now();
    const e = await failure(di.ping());
    expect(e).toBeInstanceOf(DisconnectedError);
    expect(e.message).toMatch(/not connected/);
    expect(e.message).toContain("'nobody-here'");
    expect(performance.now() - t0).toBeLessThan(2000);
    // and the same when the relay itself is unreachable
    const dead = client('ws://127.0.0.1:1', {});
    const e2 = await failure(dead.getFile('/x.txt'));
    expect(e2).toBeInstanceOf(DisconnectedError);
    expect(e2.message).toMatch(/cannot reach the relay/);
  });

  it('one deadline end to end: a 20 s data wait is not cut by a shorter call timeout', async () => {
    const d = dir();
    const { relay } = await relayWithLog();
    await runtime(relay.url, d);
    // A 1 s default deadline for plain calls: a data wait must take its deadline from its own timeout.
    const di = client(relay.url, { callTimeoutMs: 1000 });
    await di.waitForRuntime(10);
    const id = await di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false);
    setTimeout(() => writeVolume(d, 0), 3000);
    const t0 = performance.now();
    const ds = await di.getImageData(id, 0, 20);
    expect(performance.now() - t0).toBeGreaterThan(2500);
    expect(Number(ds.get('InstanceNumber'))).toBe(1);
    // watchFile too
    await di.initWatch(d, '*.txt', 0);
    setTimeout(() => fs.writeFileSync(path.join(d, 'late.txt'), 'late'), 1500);
    expect(new TextDecoder().decode(await di.watchFile(path.join(d, 'late.txt'), 20))).toBe('late');
  }, 30_000);

  it('runtime process killed mid-stream: pending call fails at once; restarted, the stream continues at the right index', async () => {
    const d = dir();
    const { relay, log } = await relayWithLog();
    const start = () => {
      const child = spawn(process.execPath, [cliPath(), 'serve', '--connect', relay.url, '--name', 'scanner1', '--token', TOKEN, '--allowed-dirs', d, '--allowed-file-types', '.dcm', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
      cleanups.push(() => child.kill('SIGKILL'));
      return child;
    };
    let child: ChildProcess = start();
    const di = client(relay.url);
    await di.waitForRuntime(20);
    const firstInstance = ((await di.impl()) as { runtimeInstance?: string }).runtimeInstance;
    for (const i of [0, 1, 2]) writeVolume(d, i);
    const id = await di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false);
    const got: number[] = [];
    for (let k = 0; k < 3; k++) got.push(Number((await di.getImageData(id, null, 5)).get('InstanceNumber')));
    const pending = di.getImageData(id, null, 20).then(
      (ds) => ({ ok: true as const, n: Number(ds.get('InstanceNumber')) }),
      (e: Error) => ({ ok: false as const, e, at: performance.now() }),
    );
    await sleep(300);
    const killedAt = performance.now();
    child.kill('SIGKILL');
    const r = await pending;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.e).toBeInstanceOf(DisconnectedError);
    expect(r.e.message).toMatch(/not connected/);
    const failedAfterMs = r.at - killedAt;
    console.log(`pending getImageData failed ${failedAfterMs.toFixed(1)} ms after SIGKILL`);
    expect(failedAfterMs).toBeLessThan(1000);
    expect((await failure(di.ping())).name).toBe('DisconnectedError');
    await sleep(100);
    expect(log.some((l) => /runtime 'scanner1' disconnected/.test(l))).toBe(true);

    child = start();
    await di.waitForRuntime(20);
    expect(((await di.impl()) as { runtimeInstance?: string }).runtimeInstance).not.toBe(firstInstance);
    setTimeout(() => {
      writeVolume(d, 3);
      writeVolume(d, 4);
    }, 200);
    for (let k = 0; k < 2; k++) got.push(Number((await di.getImageData(id, null, 10)).get('InstanceNumber')));
    expect(got).toEqual([1, 2, 3, 4, 5]);
  }, 60_000);

  it('a frozen runtime (SIGSTOP) is dropped by the relay; a replacement may take its name; the frozen one, resumed, is refused', async () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'f.txt'), 'frozen?');
    const { relay, log } = await relayWithLog({ deadAfterMs: 3000 });
    const child = spawn(process.execPath, [cliPath(), 'serve', '--connect', relay.url, '--name', 'scanner1', '--token', TOKEN, '--allowed-dirs', d, '--allowed-file-types', '.txt', '--quiet'], { stdio: 'ignore' });
    cleanups.push(() => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    });
    const di = client(relay.url);
    await di.waitForRuntime(20);
    child.kill('SIGSTOP');
    for (let i = 0; i < 300 && !log.some((l) => /runtime 'scanner1' disconnected \(no heartbeat/.test(l)); i++) await sleep(50);
    expect(log.join('\n')).toMatch(/runtime 'scanner1' disconnected \(no heartbeat/);
    expect((await failure(di.ping())).name).toBe('DisconnectedError');
    const replacement = await runtime(relay.url, d);
    await replacement.service.whenConnected();
    await di.waitForRuntime(10);
    expect(new TextDecoder().decode(await di.getFile(path.join(d, 'f.txt')))).toBe('frozen?');
    child.kill('SIGCONT');
    for (let i = 0; i < 100 && !log.some((l) => /refused runtime 'scanner1'.*already connected/.test(l)); i++) await sleep(50);
    expect(log.join('\n')).toMatch(/refused runtime 'scanner1'.*already connected/);
    expect(typeof (await di.ping())).toBe('number');
  }, 40_000);

  it('a session ended while relay and runtime stay up (e.g. an RPC heartbeat gave up) is reopened by the SDK; the stream keeps its place', async () => {
    const d = dir();
    const { relay } = await relayWithLog();
    const rt = await runtime(relay.url, d);
    const di = client(relay.url);
    await di.waitForRuntime(10);
    for (const i of [0, 1]) writeVolume(d, i);
    const id = await di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false);
    expect(Number((await di.getImageData(id)).get('InstanceNumber'))).toBe(1);
    const sessions = [...rt.service.connection!.sessions.values()];
    expect(sessions).toHaveLength(1);
    sessions[0]!.close('closed by the test');
    await sleep(50);
    expect((await failure(di.ping())).name).toBe('DisconnectedError');
    await di.waitForRuntime(10);
    expect(rt.service.connection!.sessions.size).toBe(1);
    expect(Number((await di.getImageData(id)).get('InstanceNumber'))).toBe(2);
  });

  it('an idle relay session carries nothing (no RPC handshake or heartbeat inside sessions); the first call is answered', async () => {
    // Liveness belongs to the relay link (its PING/PONG); authentication to the relay protocol.
    // The runtime's end of a session sends nothing until it is called.
    const d = dir();
    const { relay } = await relayWithLog();
    const rt = await runtime(relay.url, d);
    await rt.service.whenConnected();
    const link = await connectWs(relay.url);
    const rc = await RelayClient.attach(link, { target: 'scanner1', token: CLIENT_TOKEN });
    cleanups.push(() => rc.close());
    const session = rc.session!;
    expect(session).toBeDefined();
    // White box: frames that arrived before anyone listened wait in the session link.
    const early = () => (session as unknown as { early: Uint8Array[] | null }).early ?? [];
    await sleep(1200);
    expect(early()).toHaveLength(0);
    const peer = new RpcPeer(session);
    expect(await peer.call('ping', [])).toBeTypeOf('number');
    peer.close('done');
  });

  it('relay restarted: runtime and client reconnect by themselves, the stream keeps its place', async () => {
    const d = dir();
    const first = await relayWithLog();
    const port = first.relay.port;
    const rt = await runtime(first.relay.url, d);
    const di = client(first.relay.url);
    await di.waitForRuntime(10);
    for (const i of [0, 1]) writeVolume(d, i);
    const id = await di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false);
    expect(Number((await di.getImageData(id)).get('InstanceNumber'))).toBe(1);
    await first.relay.close();
    await sleep(200);
    expect((await failure(di.ping())).name).toBe('DisconnectedError');
    const second = await relayWithLog({ port });
    await di.waitForRuntime(20);
    expect(rt.service.connected).toBe(true);
    expect(second.log.some((l) => /runtime 'scanner1' connected/.test(l))).toBe(true);
    expect(Number((await di.getImageData(id)).get('InstanceNumber'))).toBe(2);
  }, 30_000);

  it('auth: wrong or missing tokens are refused for clients and runtimes', async () => {
    const d = dir();
    const { relay, log } = await relayWithLog();
    await runtime(relay.url, d);
    const bad = client(relay.url, { token: 'wrong' });
    const e = await failure(bad.ping());
    expect(e).toBeInstanceOf(AuthError);
    expect(e.message).toMatch(/authentication failed/);
    expect(() => new DataInterface({ dataRemote: true, url: relay.url, name: 'scanner1' })).toThrow(/token/);
    expect(() => new DataInterface({ dataRemote: true, url: relay.url, token: TOKEN, name: '../etc' })).toThrow(/name must be/);
    let fatal: Error | undefined;
    const rt2 = await runtime(relay.url, d, { name: 'scanner2', token: 'wrong', onFatal: (err) => (fatal = err) });
    for (let i = 0; i < 50 && !fatal; i++) await sleep(20);
    expect(fatal?.name).toBe('AuthError');
    expect(rt2.service.connected).toBe(false);
    expect(log.filter((l) => /refused .* authentication failed/.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(log.join('\n')).not.toContain(TOKEN);
    expect(log.join('\n')).not.toContain('wrong');
  });

  it('auth: a client reaches only the runtimes its token allows', async () => {
    const d = dir();
    const tokens = { runtimes: { scanner1: 'r1', scanner2: 'r2' }, clients: { alice: { token: 'a', runtimes: ['scanner1'] } } };
    const { relay } = await relayWithLog({ tokens });
    await runtime(relay.url, d, { name: 'scanner1', token: 'r1' });
    await runtime(relay.url, d, { name: 'scanner2', token: 'r2' });
    const ok = client(relay.url, { clientId: 'alice', token: 'a', name: 'scanner1' });
    await ok.waitForRuntime(10);
    expect(typeof (await ok.ping())).toBe('number');
    const no = client(relay.url, { clientId: 'alice', token: 'a', name: 'scanner2' });
    expect(await failure(no.ping())).toBeInstanceOf(AuthError);
    // A forged DATA frame for another session id goes nowhere: the relay checks the sender's session.
    const link = await connectWs(relay.url);
    const rc = await RelayClient.attach(link, { target: 'scanner1', token: 'a', id: 'alice' });
    cleanups.push(() => rc.close());
    const forged = new Uint8Array([0x10, 0, 0, 0, 1, 1, 2, 3]);
    for (let sid = 0; sid < 50; sid++) {
      new DataView(forged.buffer).setUint32(1, sid);
      if (sid !== rc.session?.sid) link.send(forged.slice());
    }
    await sleep(100);
    expect(typeof (await ok.ping())).toBe('number');
  });

  it('hijack: a second runtime claiming a connected name is refused and logged; the first keeps serving', async () => {
    const d = dir();
    const { relay, log } = await relayWithLog();
    const first = await runtime(relay.url, d);
    await first.service.whenConnected();
    const di = client(relay.url);
    await di.waitForRuntime(10);
    const before = ((await di.impl()) as { runtimeInstance?: string }).runtimeInstance;
    const hijacker = await runtime(relay.url, d);
    // The relay logs the refusal before the hijacker has read its REFUSED frame: wait for both.
    for (let i = 0; i < 100 && !(log.some((l) => /refused runtime 'scanner1'/.test(l)) && hijacker.service.lastError); i++) await sleep(20);
    expect(log.find((l) => /refused runtime 'scanner1'/.test(l))).toMatch(/already connected/);
    expect(hijacker.service.connected).toBe(false);
    expect(hijacker.service.lastError?.message).toMatch(/already connected/);
    expect(typeof (await di.ping())).toBe('number');
    expect(((await di.impl()) as { runtimeInstance?: string }).runtimeInstance).toBe(before);
  });

  it('bad input across the wire: refused methods, wrong types, huge arguments, garbage frames; others keep being served', async () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'ok.txt'), 'ok');
    const { relay } = await relayWithLog();
    const rt = await runtime(relay.url, d);
    const other = client(relay.url);
    await other.waitForRuntime(10);

    const link = await connectWs(relay.url);
    const rc = await RelayClient.attach(link, { target: 'scanner1', token: CLIENT_TOKEN });
    cleanups.push(() => rc.close());
    const peer = new RpcPeer(rc.session!);
    for (const m of ['close', 'constructor', '__proto__', 'toString', '_private', 'nope', 'streamState']) {
      const e = await failure(peer.call(m, []));
      expect(e, m).toBeInstanceOf(RtfmriError);
      expect(['RefusedMethodError', 'ValidationError'], m).toContain(e.name);
    }
    for (const args of [[123], [null], [{ path: '/etc/passwd' }], [['a', 'b']]]) {
      const e = await failure(peer.call('getFile', args));
      expect(e.name, JSON.stringify(args)).toBe('ValidationError');
    }
    const huge = await failure(peer.call('getFile', [`/${'x'.repeat(12 * 1024 * 1024)}.txt`], { timeoutMs: 20_000 }));
    expect(huge).toBeInstanceOf(RtfmriError);
    expect(huge.name).toBe('ValidationError');
    expect(huge.message).toMatch(/path too long/);
    // garbage RPC frames inside an authenticated session: that session ends, nothing else
    const link2 = await connectWs(relay.url);
    const rc2 = await RelayClient.attach(link2, { target: 'scanner1', token: CLIENT_TOKEN });
    cleanups.push(() => rc2.close());
    const down = new Promise<string>((r) => rc2.onSession((ev) => !ev.up && r(ev.reason)));
    rc2.session!.send(new Uint8Array([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    rc2.session!.send(new Uint8Array([0x7f, 1, 2, 3]));
    expect(await down).toMatch(/closed the session|disconnected/);
    expect(rt.service.connected).toBe(true);
    expect(new TextDecoder().decode(await other.getFile(path.join(d, 'ok.txt')))).toBe('ok');
    // garbage on a fresh physical link: that link is closed, nothing else
    const junk = await connectWs(relay.url);
    junk.send(new Uint8Array([0xff, 0, 1, 2, 3]));
    await junk.closed;
    expect(new TextDecoder().decode(await other.getFile(path.join(d, 'ok.txt')))).toBe('ok');
    expect(rt.service.connected).toBe(true);
  }, 30_000);

  it('routing: 3 runtimes and 12 clients at once, each client reaches only the runtime it named', async () => {
    const { relay } = await relayWithLog();
    const names = ['scanA', 'scanB', 'scanC'];
    const folders = names.map(() => dir());
    names.forEach((n, i) => fs.writeFileSync(path.join(folders[i]!, 'who.txt'), n));
    for (const [i, n] of names.entries()) await (await runtime(relay.url, folders[i]!, { name: n })).service.whenConnected();
    const clients = Array.from({ length: 12 }, (_, k) => ({ k, name: names[k % 3]!, di: client(relay.url, { name: names[k % 3]!, clientId: `c${k}` }) }));
    await Promise.all(clients.map((c) => c.di.waitForRuntime(10)));
    const rounds = await Promise.all(
      clients.map(async (c) => {
        const seen: string[] = [];
        for (let r = 0; r < 5; r++) seen.push(new TextDecoder().decode(await c.di.getFile(path.join(folders[c.k % 3]!, 'who.txt'))));
        // another runtime's folder is not even allowed there
        const e = await failure(c.di.getFile(path.join(folders[(c.k + 1) % 3]!, 'who.txt')));
        return { c, seen, e };
      }),
    );
    for (const { c, seen, e } of rounds) {
      expect(new Set(seen)).toEqual(new Set([c.name]));
      expect(e.message).toMatch(/not within list of allowed directories/);
    }
    expect(relay.relay.stats().runtimes.map((r) => r.sessions).sort()).toEqual([4, 4, 4]);
  });

  it('payload bytes that look like relay control frames cross byte-exact both ways', async () => {
    const d = dir();
    const { relay } = await relayWithLog();
    await runtime(relay.url, d);
    const di = client(relay.url);
    await di.waitForRuntime(10);
    for (const [k, first] of [0xc0, 0xd0, 0x81, 0xff, 0x00].entries()) {
      for (const size of [1, 20_000, 1_500_000]) {
        const bytes = new Uint8Array(size).map((_, i) => (i % 4096 === 0 ? first : (i * 13 + k) & 255));
        const f = path.join(d, `b${k}_${size}.txt`);
        await di.putFile(f, bytes);
        expect(Buffer.compare(fs.readFileSync(f), Buffer.from(bytes)), `put ${first} ${size}`).toBe(0);
        expect(Buffer.compare(Buffer.from(await di.getFile(f)), Buffer.from(bytes)), `get ${first} ${size}`).toBe(0);
      }
    }
  });

  it('a runtime started with --listen serves clients directly (LAN, no separate relay)', async () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'lan.txt'), 'lan');
    const rt = await startRuntimeServer({ listen: 0, listenHost: '127.0.0.1', name: 'scanner1', token: TOKEN, allowedDirs: [d], allowedFileTypes: ['.txt'] });
    cleanups.push(() => rt.close());
    const di = client(rt.relayServer!.url);
    await di.waitForRuntime(10);
    expect(new TextDecoder().decode(await di.getFile(path.join(d, 'lan.txt')))).toBe('lan');
    expect(await failure(client(rt.relayServer!.url, { token: 'nope' }).ping())).toBeInstanceOf(AuthError);
  });

  const openssl = spawnSync('openssl', ['version']).status === 0;
  it.runIf(openssl)('wss://: relay with a certificate, runtime and client trusting its CA', async () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'tls.txt'), 'over tls');
    const certDir = dir();
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
    expect(r.status).toBe(0);
    const cert = fs.readFileSync(path.join(certDir, 'cert.pem'));
    const key = fs.readFileSync(path.join(certDir, 'key.pem'));
    const relay = await hostRelay({ token: TOKEN, cert, key });
    cleanups.push(() => relay.close());
    expect(relay.url).toMatch(/^wss:\/\//);
    const rt = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [d], allowedFileTypes: ['.txt'], ws: { ca: cert } });
    cleanups.push(() => rt.close());
    await rt.service.whenConnected();
    const di = client(relay.url, { ws: { ca: cert } });
    await di.waitForRuntime(10);
    expect(new TextDecoder().decode(await di.getFile(path.join(d, 'tls.txt')))).toBe('over tls');
    // without the CA the certificate is not trusted: a clear DisconnectedError, no hang
    const untrusting = client(relay.url);
    expect((await failure(untrusting.ping())).message).toMatch(/cannot reach the relay/);
  });

  it('the SDK can host the relay in-process (one hop: runtime dials the experiment process)', async () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'one.txt'), 'one hop');
    const { relay } = await relayWithLog();
    await runtime(relay.url, d);
    const di = new DataInterface({ dataRemote: true, link: relay.localLink('experiment'), token: CLIENT_TOKEN, name: 'scanner1' });
    cleanups.push(() => di.close());
    await di.waitForRuntime(10);
    expect(new TextDecoder().decode(await di.getFile(path.join(d, 'one.txt')))).toBe('one hop');
  }, 30_000);
});
