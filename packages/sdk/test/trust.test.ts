// The trust boundary (issue 10), each attack reproduced against the real relay, runtime and SDK
// on loopback: a client taking over a runtime's name, a fake relay, scoped and expired tokens,
// floods of unauthenticated connections. The relay keeps serving its admitted clients throughout.
import fs from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRuntimeServer, type RuntimeServer } from '@rtfmri/runtime';
import {
  challenge, control, mintClientToken, mintRuntimeToken, newNonce, parseClientToken, RelayClient, RelayRuntimeConnection,
} from '@rtfmri/relay/protocol';
import { AuthError, type Link } from '@rtfmri/transport';
import { connectWs, createWsServer, type WsServer } from '@rtfmri/transport/node';
import { DataInterface, hostRelay, type HostedRelay } from '../src/index.js';
import { sleep, tmpDir, TOKEN, failure } from './harness.js';

// Relay frame types (framing.ts's const enum F, which a test cannot import across packages).
const HELLO = 0x82;
const WELCOME = 0x83;
const OPEN = 0x87;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));


async function relay(extra: Partial<Parameters<typeof hostRelay>[0]> = {}): Promise<{ relay: HostedRelay; log: string[] }> {
  const log: string[] = [];
  const r = await hostRelay({ token: TOKEN, log: (l) => log.push(l), ...extra });
  cleanups.push(() => r.close());
  return { relay: r, log };
}

async function runtime(url: string, extra: Partial<Parameters<typeof startRuntimeServer>[0]> = {}): Promise<{ rt: RuntimeServer; dir: string }> {
  const dir = tmpDir();
  dirs.push(dir);
  fs.writeFileSync(`${dir}/notes.txt`, 'control-room notes');
  const rt = await startRuntimeServer({ connect: url, name: 'scanner1', token: TOKEN, allowedDirs: [dir], allowedFileTypes: ['.txt', '.dcm'], ...extra });
  cleanups.push(() => rt.close());
  await rt.service.whenConnected();
  return { rt, dir };
}

function client(url: string, token: string, name = 'scanner1'): DataInterface {
  const di = new DataInterface({ dataRemote: true, url, token, name });
  cleanups.push(() => di.close());
  return di;
}

describe('trust boundary: names, relays, scopes, floods', () => {
  it('no client credential can register a runtime, not even while the real one is away', async () => {
    const { relay: r, log } = await relay();
    const clientToken = mintClientToken(TOKEN);
    // Locally: the SDK refuses to use a client token as a runtime credential.
    const l1 = await connectWs(r.url);
    const e1 = await failure(RelayRuntimeConnection.register(l1, { name: 'scanner1', token: clientToken }));
    expect(e1).toBeInstanceOf(AuthError);
    expect(e1.message).toMatch(/client token cannot register/);
    // On the wire: an attacker deriving a "runtime key" from what it holds (the token's signature,
    // the token text) is refused by the relay.
    for (const forged of [clientToken, Buffer.from(parseClientToken(clientToken)!.key).toString('hex'), 'scanner1']) {
      const l = await connectWs(r.url);
      const e = await failure(RelayRuntimeConnection.register(l, { name: 'scanner1', token: forged.replace(/^rtfmri1\.c\./, 'x') }));
      expect(e).toBeInstanceOf(AuthError);
      expect(e.message).toMatch(/authentication failed/);
    }
    expect(log.filter((l) => /refused runtime 'scanner1'/.test(l)).length).toBe(3);
    // The real runtime (site secret, or a runtime token for its name only) registers afterwards.
    const l2 = await connectWs(r.url);
    const conn = await RelayRuntimeConnection.register(l2, { name: 'scanner1', token: mintRuntimeToken(TOKEN, 'scanner1') });
    cleanups.push(() => conn.close());
    const l3 = await connectWs(r.url);
    const e3 = await failure(RelayRuntimeConnection.register(l3, { name: 'scanner2', token: mintRuntimeToken(TOKEN, 'scanner1') }));
    expect(e3.message).toMatch(/for 'scanner1', not 'scanner2'/);
  });

  it('the site secret given to an experiment as its token is refused: clients need minted tokens', async () => {
    const { relay: r } = await relay();
    await runtime(r.url);
    const e = await failure(client(r.url, TOKEN).ping());
    expect(e).toBeInstanceOf(AuthError);
  });

  describe('a fake relay (one that does not hold the secret) gets nothing', () => {
    let fake: WsServer;
    const seen: string[] = [];
    afterEach(async () => {
      await fake?.close();
      seen.length = 0;
    });
    /** Accepts any HELLO and answers WELCOME with a made-up proof, then asks for a file. */
    async function startFake(proof: string | undefined): Promise<string> {
      fake = await createWsServer({
        host: '127.0.0.1',
        onLink: (link: Link) => {
          void link.opened.then(() => link.send(challenge(newNonce())));
          link.onMessage((frame) => {
            seen.push(`0x${frame[0]!.toString(16)}`);
            if (frame[0] === HELLO) {
              const body = JSON.parse(new TextDecoder().decode(frame.subarray(1))) as { role: string };
              link.send(control(WELCOME, { up: true, sid: 1, instance: 'x', flow: 1 << 20, ...(proof !== undefined ? { proof } : {}) }));
              if (body.role === 'runtime') link.send(control(OPEN, { sid: 1, client: 'attacker' }));
            }
          });
        },
      });
      return fake.url;
    }

    for (const proof of [undefined, '00'.repeat(32), 'not hex']) {
      it(`runtime and SDK refuse a WELCOME with ${proof === undefined ? 'no proof' : `proof '${proof.slice(0, 8)}…'`}`, async () => {
        const url = await startFake(proof);
        const e1 = await failure(RelayRuntimeConnection.register(await connectWs(url), { name: 'scanner1', token: TOKEN }));
        expect(e1).toBeInstanceOf(AuthError);
        expect(e1.message).toMatch(/could not prove/);
        const e2 = await failure(RelayClient.attach(await connectWs(url), { target: 'scanner1', token: mintClientToken(TOKEN) }));
        expect(e2).toBeInstanceOf(AuthError);
        // `rtfmri serve` logic: the runtime stops with the reason and never serves the fake relay a session.
        let fatal: Error | undefined;
        const rt = await startRuntimeServer({ connect: url, name: 'scanner1', token: TOKEN, allowedDirs: [tmpDir()], allowedFileTypes: ['.txt'], onFatal: (e) => (fatal = e) });
        cleanups.push(() => rt.close());
        for (let i = 0; i < 100 && !fatal; i++) await sleep(20);
        expect(fatal?.message).toMatch(/could not prove/);
        // Only the handshake ever reached the fake relay: no RPC frame (< 0x80), no PONG or reply.
        expect(seen.every((t) => t === '0x82')).toBe(true);
      });
    }
  });

  it('a stream-only token reaches streams, not files; a token for another runtime reaches nothing', async () => {
    const { relay: r } = await relay();
    const { dir } = await runtime(r.url);
    const page = client(r.url, mintClientToken(TOKEN, { sub: 'page', runtimes: ['scanner1'], methods: 'stream', ttlSeconds: 600 }));
    expect(typeof (await page.ping())).toBe('number');
    expect(await page.initScannerStream(dir, 'vol_{TR:03d}.dcm', 0)).toBeGreaterThanOrEqual(0);
    for (const call of [() => page.getFile(`${dir}/notes.txt`), () => page.listFiles(`${dir}/*`), () => page.putFile(`${dir}/x.txt`, 'planted')]) {
      const e = await failure(call());
      expect(e.message).toMatch(/not allowed|unknown method|not exposed/i);
    }
    expect(fs.existsSync(`${dir}/x.txt`)).toBe(false);
    // The full-access experiment still reads the same file on the same runtime.
    const full = client(r.url, mintClientToken(TOKEN));
    expect(new TextDecoder().decode(await full.getFile(`${dir}/notes.txt`))).toBe('control-room notes');
    const other = client(r.url, mintClientToken(TOKEN, { runtimes: ['scanner2'] }));
    expect(await failure(other.ping())).toBeInstanceOf(AuthError);
  });

  it('an expired token is refused with that reason; one that expires during a run loses its link', async () => {
    const { relay: r, log } = await relay();
    await runtime(r.url);
    const expired = client(r.url, mintClientToken(TOKEN, { sub: 'late', ttlSeconds: -1 }));
    const e = await failure(expired.ping());
    expect(e).toBeInstanceOf(AuthError);
    expect(e.message).toMatch(/expired/);
    const link = await connectWs(r.url);
    const rc = await RelayClient.attach(link, { target: 'scanner1', token: mintClientToken(TOKEN, { sub: 'short', ttlSeconds: 1 }) });
    expect(rc.session).toBeDefined();
    const closed = await Promise.race([link.closed.then((c) => c.reason), sleep(4000).then(() => 'still open')]);
    expect(closed).toMatch(/expired/);
    expect(log.some((l) => /client 'short' token expired/.test(l))).toBe(true);
  });

  it('a flood of unauthenticated connections is capped per address; admitted clients keep being served', async () => {
    const { relay: r, log } = await relay({ handshakeTimeoutMs: 1500 });
    await runtime(r.url);
    const di = client(r.url, mintClientToken(TOKEN));
    await di.waitForRuntime(5);
    const silent: Link[] = [];
    for (let i = 0; i < 40; i++) silent.push(await connectWs(r.url));
    cleanups.push(() => silent.forEach((l) => l.close()));
    await sleep(100);
    const open = silent.filter((l) => l.state === 'open').length;
    // The runtime's own link is admitted; of 40 silent sockets from 127.0.0.1 at most 16 wait.
    expect(open).toBeLessThanOrEqual(16);
    expect(log.some((l) => /too many unauthenticated connections/.test(l))).toBe(true);
    for (let i = 0; i < 20; i++) expect(typeof (await di.ping())).toBe('number');
    // The silent ones are dropped at the handshake deadline, and a new client gets in again.
    await sleep(1800);
    expect(silent.filter((l) => l.state === 'open').length).toBe(0);
    expect(typeof (await client(r.url, mintClientToken(TOKEN)).ping())).toBe('number');
  });

  it('hostile frames through the relay (BigInt, inflate bomb, oversized) end only the attacker\'s session; the runtime keeps serving others', async () => {
    const { relay: r } = await relay();
    await runtime(r.url);
    const good = client(r.url, mintClientToken(TOKEN));
    await good.waitForRuntime(5);
    const varint = (v: number) => {
      const o: number[] = [];
      while (v >= 0x80) {
        o.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      o.push(v);
      return o;
    };
    const req = (method: string, head: number[], value: number[] | Uint8Array, flags = 0) =>
      Uint8Array.from([0x10, 1, flags, method.length, ...Buffer.from(method), ...head, ...value]);
    const { deflateSync } = await import('fflate');
    const attacks: Array<[string, Uint8Array]> = [
      // ping with a 192 KiB BigInt argument (it froze `rtfmri serve` for seconds before)
      ['bigint', req('ping', [], [0x09, 1, 0x06, 0, ...varint(192 << 10), ...new Uint8Array(192 << 10).fill(0xa5)])],
      ['inflate bomb', req('ping', varint(1 << 30), deflateSync(new Uint8Array(4 << 20)), 2)],
      ['oversized frame', req('ping', [], [0x08, ...varint(3 << 20), ...new Uint8Array(3 << 20)])],
    ];
    for (const [what, frame] of attacks) {
      const link = await connectWs(r.url);
      const rc = await RelayClient.attach(link, { target: 'scanner1', token: mintClientToken(TOKEN, { sub: 'attacker' }) });
      const session = rc.session!;
      const answered = new Promise<string>((res) => {
        session.onMessage((m) => res(`frame 0x${m[0]!.toString(16)}`));
        session.onClose((c) => res(`closed: ${c.reason}`));
      });
      session.send(frame);
      // Meanwhile the other client is served, call after call.
      for (let i = 0; i < 10; i++) expect(typeof (await good.ping())).toBe('number');
      const outcome = await Promise.race([answered, sleep(5000).then(() => 'nothing')]);
      expect(outcome, what).not.toBe('nothing');
      rc.close();
    }
    expect(typeof (await good.ping())).toBe('number');
  });
});
