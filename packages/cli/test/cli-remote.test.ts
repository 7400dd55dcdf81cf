// The network commands through main() in this process (real sockets on loopback): relay, serve,
// upload and download with a progress bar, and their one-line errors.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { capture, until } from './io.js';
import { mintClientToken } from '@rtfmri/relay/protocol';


const TOKEN = 'cli-test-token';
/** An experiment's (here the CLI transfers') credential: minted from the site secret. */
const CLIENT = mintClientToken(TOKEN, { sub: 'cli' });
/** Secrets travel in mode-600 files, as the CLI recommends (--token on argv prints a warning). */
function secretFile(name: string, secret: string): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-secret-')), name);
  fs.writeFileSync(f, secret + '\n', { mode: 0o600 });
  return f;
}
const SITE_FILE = secretFile('site', TOKEN);
const CLIENT_FILE = secretFile('client', CLIENT);
const T_FILE = secretFile('t', 't');
const WRONG_FILE = secretFile('wrong', 'wrong');
const LOOSE_FILE = secretFile('loose', TOKEN);
fs.chmodSync(LOOSE_FILE, 0o644);
let root: string;
let stop: AbortController;
let relayIo: ReturnType<typeof capture>;
let serveIo: ReturnType<typeof capture>;
let running: Promise<number>[] = [];
let url = '';

beforeAll(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-cli-remote-')));
  fs.mkdirSync(path.join(root, 'scans/run1/inner'), { recursive: true });
  fs.writeFileSync(path.join(root, 'scans/run1/a.dcm'), Buffer.alloc(200_000, 1));
  fs.writeFileSync(path.join(root, 'scans/run1/inner/b.txt'), 'b');
  stop = new AbortController();
  relayIo = capture(stop.signal);
  running.push(main(['relay', '--port', '0', '--host', '127.0.0.1', '--token-file', SITE_FILE], relayIo));
  await until(() => relayIo.stdout.some((l) => /\(port \d+\)/.test(l)));
  url = `ws://127.0.0.1:${relayIo.stdout.join('\n').match(/\(port (\d+)\)/)![1]}`;
  serveIo = capture(stop.signal);
  running.push(main(['serve', '--connect', url, '--name', 'cli1', '--token-file', SITE_FILE, '--allowed-dirs', path.join(root, 'scans'), '--allowed-file-types', '.dcm,.txt'], serveIo));
  await until(() => serveIo.stdout.some((l) => /registered with the relay/.test(l)));
});

afterAll(async () => {
  stop.abort();
  expect(await Promise.all(running)).toEqual([0, 0]);
  fs.rmSync(root, { recursive: true, force: true });
});

describe('rtfmri relay / serve / upload / download', () => {
  it('upload a folder and a pattern from the runtime, with progress lines on stderr', async () => {
    const io = capture();
    expect(await main(['upload', '--url', url, '--name', 'cli1', '--token-file', CLIENT_FILE, path.join(root, 'scans/run1'), path.join(root, 'here')], io)).toBe(0);
    expect(fs.readFileSync(path.join(root, 'here/run1/inner/b.txt'), 'utf8')).toBe('b');
    expect(fs.statSync(path.join(root, 'here/run1/a.dcm')).size).toBe(200_000);
    expect(io.stderr.join('\n')).toMatch(/uploading \[#+\] 2\/2 files/);
    expect(io.stdout.at(-1)).toMatch(/uploaded 2 file\(s\)/);
    const io2 = capture();
    expect(await main(['upload', '--url', url, '--name', 'cli1', '--token-file', CLIENT_FILE, '--quiet', path.join(root, 'scans/run1/**/*.txt'), path.join(root, 'flat')], io2)).toBe(0);
    expect(fs.readdirSync(path.join(root, 'flat'))).toEqual(['b.txt']);
    expect(io2.stderr).toEqual([]);
  });

  it('download a local folder to the runtime, deleting the copied files only', async () => {
    const local = path.join(root, 'local');
    fs.mkdirSync(path.join(local, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(local, 'x.txt'), 'x');
    fs.writeFileSync(path.join(local, 'sub/y.txt'), 'y');
    fs.writeFileSync(path.join(local, 'skip.exe'), 'z');
    const io = capture();
    expect(await main(['download', '--url', url, '--name', 'cli1', '--token-file', CLIENT_FILE, '--delete-after', local, path.join(root, 'scans/in')], io)).toBe(0);
    expect(fs.readFileSync(path.join(root, 'scans/in/local/sub/y.txt'), 'utf8')).toBe('y');
    expect(fs.existsSync(path.join(root, 'scans/in/local/skip.exe'))).toBe(false);
    expect(fs.existsSync(path.join(local, 'x.txt'))).toBe(false);
    expect(fs.existsSync(path.join(local, 'skip.exe'))).toBe(true);
    expect(fs.existsSync(path.join(local, 'sub'))).toBe(true);
  });

  it.each([
    [['upload', '--name', 'cli1', '/a', '/b'], 2, /--url is required/],
    [['upload', '--url', 'http://x', '/a', '/b'], 2, /ws:\/\/ or wss:\/\//],
    [['upload', '--url', 'ws://127.0.0.1:1', '--token-file', T_FILE, 'relative', '/b'], 2, /absolute path on the runtime/],
    [['download', '--url', 'ws://127.0.0.1:1', '--token-file', T_FILE, '/no/such/folder', '/b'], 2, /local folder not found/],
    [['serve', '--connect', 'ws://127.0.0.1:1', '--token-file', T_FILE, '--allowed-file-types', '.dcm'], 2, /--allowed-dirs is required/],
    [['serve', '--connect', 'ws://127.0.0.1:1', '--listen', '9', '--token-file', T_FILE, '--allowed-dirs', '/tmp', '--allowed-file-types', '.dcm'], 2, /exactly one of --connect/],
    [['serve', '--connect', 'ws://127.0.0.1:1', '--token-file', T_FILE, '--allowed-dirs', '/no/such', '--allowed-file-types', '.dcm'], 2, /folder not found/],
    [['serve', '--connect', 'ws://127.0.0.1:1', '--token-file', T_FILE, '--allowed-dirs', '/tmp', '--allowed-file-types', '.dcm', '--stream-window', '2000'], 2, /--stream-window must be at most 1024/],
    [['relay', '--port', '70000', '--token-file', T_FILE], 2, /--port must be at most 65535/],
    [['relay', '--tokens', '/no/such/tokens.json'], 2, /cannot read/],
    [['relay', '--cert', 'x.pem', '--token-file', T_FILE], 2, /--cert and --key go together/],
    [['relay', '--token-file', LOOSE_FILE], 2, /can be read by other users \(mode 644\): run 'chmod 600/],
    [['relay', '--token-file', SITE_FILE, '--token', TOKEN], 2, /--token-file or --token, not both/],
  ])('%j -> exit %i with one clear line', async (argv, code, re) => {
    const io = capture();
    const saved = process.env.RTFMRI_TOKEN;
    delete process.env.RTFMRI_TOKEN;
    try {
      expect(await main(argv as string[], io)).toBe(code);
    } finally {
      if (saved !== undefined) process.env.RTFMRI_TOKEN = saved;
    }
    expect(io.stderr[0]).toMatch(re);
    expect(io.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('failures from the far side are one line, exit 1: refused path, bad token, absent runtime', async () => {
    const cases: [string[], RegExp][] = [
      [['upload', '--url', url, '--name', 'cli1', '--token-file', CLIENT_FILE, '/etc', path.join(root, 'x')], /ValidationError: .*not within list of allowed directories/],
      [['upload', '--url', url, '--name', 'cli1', '--token-file', WRONG_FILE, path.join(root, 'scans'), path.join(root, 'x')], /AuthError: .*authentication failed/],
      [['upload', '--url', url, '--name', 'nobody', '--token-file', CLIENT_FILE, path.join(root, 'scans'), path.join(root, 'x')], /runtime 'nobody' is not connected/],
    ];
    for (const [argv, re] of cases) {
      const io = capture();
      expect(await main(argv, io), argv.join(' ')).toBe(1);
      expect(io.stderr).toHaveLength(1);
      expect(io.stderr[0]).toMatch(re);
    }
    expect(relayIo.stdout.join('\n')).toMatch(/refused client 'cli' .*authentication failed/);
    expect(relayIo.stdout.join('\n')).not.toContain(TOKEN);
  });

  it('a second serve with the same name is refused by the relay and keeps retrying; a bad token stops serve with exit 1', async () => {
    const ac = new AbortController();
    const io = capture(ac.signal);
    const p = main(['serve', '--connect', url, '--name', 'cli1', '--token-file', SITE_FILE, '--allowed-dirs', root, '--allowed-file-types', '.dcm'], io);
    await until(() => io.stdout.some((l) => /already connected/.test(l)));
    await until(() => relayIo.stdout.some((l) => /refused runtime 'cli1' .*already connected/.test(l)));
    ac.abort();
    expect(await p).toBe(0);
    const io2 = capture();
    expect(await main(['serve', '--connect', url, '--name', 'cli2', '--token-file', WRONG_FILE, '--allowed-dirs', root, '--allowed-file-types', '.dcm'], io2)).toBe(1);
    expect(io2.stderr.at(-1)).toMatch(/authentication failed/);
  });
});
