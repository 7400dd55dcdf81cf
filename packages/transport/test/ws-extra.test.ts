import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as T from '../src/node.js';
import { digest, killedPeerCase, pattern } from './contract-cases.js';
import { ensureDist, hasOpenssl, pkgDir } from './helpers.js';

describe('WebSocket specifics', () => {
  it('ws picks up the native bufferutil helper', async () => {
    const { createRequire } = await import('node:module');
    const req = createRequire(createRequire(import.meta.url).resolve('ws'));
    expect(() => req.resolve('bufferutil')).not.toThrow();
  });

  it.skipIf(!hasOpenssl())('wss:// with a self-signed certificate (zero mask under TLS), large payload byte-exact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const https = createHttpsServer({ cert, key: readFileSync(join(dir, 'key.pem')) });
    const server = await T.createWsServer({
      server: https,
      onLink: (l) => T.expose(l, { async sum(b: Uint8Array) { return digest(b); }, async get(n: number) { return pattern(n, 3); } }, ['sum', 'get']),
    });
    expect(server.url.startsWith('wss://')).toBe(true);
    // an untrusted certificate is refused
    await expect(T.connectWs(server.url)).rejects.toThrow();
    const link = await T.connectWs(server.url, { ca: cert });
    const api = T.connect<{ sum(b: Uint8Array): Promise<number>; get(n: number): Promise<Uint8Array> }>(link);
    const up = pattern(20 * 1024 * 1024 + 1, 5);
    expect(await api.sum(up)).toBe(digest(up));
    expect(digest(await api.get(20 * 1024 * 1024 + 1))).toBe(digest(pattern(20 * 1024 * 1024 + 1, 3)));
    link.close();
    await server.close();
    https.close();
  });

  it('peer killed mid-transfer (child process, SIGKILL): every operation fails with DisconnectedError', async () => {
    ensureDist();
    await killedPeerCase(T, 'ws', join(pkgDir, 'test', 'peer-child.mjs'));
  });

  it('drain() resolves when bytes are buffered but the socket never filled (no drain event due)', async () => {
    const server = await T.createWsServer({ onLink: () => {} });
    const link = await T.connectWs(server.url);
    // Within one tick the socket is corked: the bytes count in bufferedAmount, yet the socket
    // never refused a write, so it will never emit 'drain'.
    link.send(new Uint8Array(1000));
    expect(link.bufferedAmount).toBeGreaterThan(0);
    await link.drain(0);
    expect(link.bufferedAmount).toBe(0);
    link.close();
    await server.close();
  });

  it('an RPC peer that fails on garbage closes its ws link (CLOSE frame first)', async () => {
    const serverLinks: T.Link[] = [];
    const server = await T.createWsServer({ onLink: (l) => { serverLinks.push(l); T.expose(l, { async echo(x: unknown) { return x; } }, ['echo']); } });
    const raw = await T.connectWs(server.url);
    const got: Uint8Array[] = [];
    raw.onMessage((m) => got.push(m));
    raw.send(Uint8Array.of(0x7f, 1, 2, 3));
    const info = await serverLinks[0].closed;
    expect(info.error?.name).toBe('ProtocolError');
    await raw.closed;
    expect(got.some((m) => m[0] === 0x05)).toBe(true);
    await server.close();
  });

  it('an error echoing a huge argument is cut to size and fails only that call, not the link', async () => {
    const impl = {
      async check(s: string) {
        throw new T.ValidationError(`bad input: ${s}`, { details: { input: s, n: s.length } });
      },
      async small() {
        throw new T.NotFoundError('no such thing', { details: { path: '/x', tries: [1, 2] } });
      },
      async crash(s: string) {
        throw new TypeError(`cannot use ${s}`);
      },
      async ok() {
        return 'fine';
      },
    };
    const server = await T.createWsServer({ maxPayload: 256 * 1024, onLink: (l) => T.expose(l, impl, ['check', 'small', 'crash', 'ok']) });
    const link = await T.connectWs(server.url, { maxPayload: 256 * 1024 });
    const api = T.connect<{ check(s: string): Promise<void>; small(): Promise<void>; crash(s: string): Promise<void>; ok(): Promise<string> }>(link);
    // 200 KB argument: the request fits the 256 KiB ws limit, an error holding it twice would not
    const huge = 'x'.repeat(200 * 1024) + '\u{1F600}'.repeat(1000);
    const err = (await api.check(huge).catch((e: unknown) => e)) as T.RtfmriError;
    expect(err).toBeInstanceOf(T.ValidationError);
    expect(err.message.startsWith('bad input: xxx')).toBe(true);
    expect(err.message.length).toBeLessThanOrEqual(T.MAX_ERROR_MESSAGE + 40);
    expect(err.message).toMatch(/\.\.\. \(\d+ characters\)$/);
    expect(err.details).toBeUndefined();
    const err2 = (await api.crash(huge).catch((e: unknown) => e)) as T.RtfmriError;
    expect(err2.name).toBe('RemoteError');
    expect(err2.message.length).toBeLessThanOrEqual(T.MAX_ERROR_MESSAGE + 40);
    // small errors cross unchanged, details included
    await expect(api.small()).rejects.toMatchObject({ name: 'NotFoundError', message: 'no such thing', details: { path: '/x', tries: [1, 2] } });
    expect(link.state).toBe('open');
    expect(await api.ok()).toBe('fine');
    link.close();
    await server.close();
  });

  it('oversized WebSocket messages close that connection only', async () => {
    const server = await T.createWsServer({ maxPayload: 64 * 1024, onLink: (l) => T.expose(l, { async echo(x: unknown) { return x; } }, ['echo'], { maxFrameSize: 64 * 1024 }) });
    const good = await T.connectWs(server.url);
    const api = T.connect<{ echo(x: unknown): Promise<unknown> }>(good, { maxFrameSize: 64 * 1024, chunkSize: 32 * 1024 });
    const bad = await T.connectWs(server.url);
    bad.send(new Uint8Array(200 * 1024));
    const info = await bad.closed;
    expect(info.reason).toMatch(/closed|1009|too big/i);
    // the RPC splits big payloads into frames under the limit, so the good link still works
    const b = pattern(1024 * 1024, 1);
    expect(digest((await api.echo(b)) as Uint8Array)).toBe(digest(b));
    good.close();
    await server.close();
  });
});
