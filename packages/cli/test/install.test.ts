// Installed as a user would: every publishable package packed with `pnpm pack` (workspace ranges
// become versions), the tarballs installed with npm into a fresh folder outside the repository,
// then `npx rtfmri --help` / `--version`, the relay and a runtime started from that install, and a
// script that imports @rtfmri/sdk reaching the runtime through the relay. npm fetches the
// third-party dependencies from the npm registry (or its cache).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const PACKAGES = ['dicom-wasm', 'transport', 'files', 'relay', 'runtime', 'sdk', 'cli'];
const TOKEN = 'install-test-token';

const work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-install-')));
const app = path.join(work, 'app');
const children: ChildProcess[] = [];
let installError: string | undefined;

function run(cmd: string, args: string[], cwd: string, timeoutMs = 240_000): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Starts a bin of the installed app; resolves with the first stdout match of `re`. */
function startBin(args: string[], re: RegExp): Promise<RegExpMatchArray> {
  const child = spawn(process.execPath, [path.join(app, 'node_modules', '.bin', args[0]!), ...args.slice(1)], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RTFMRI_TOKEN: TOKEN } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = text.match(re);
      if (m) resolve(m);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${text}`)));
    setTimeout(() => reject(new Error(`${args.join(' ')}: no ${re} within 30 s: ${text}`)), 30_000).unref();
  });
}

beforeAll(() => {
  const tarballs = path.join(work, 'tarballs');
  fs.mkdirSync(tarballs);
  for (const p of PACKAGES) {
    const r = run('npx', ['--yes', 'pnpm@12.4.2', 'pack', '--pack-destination', tarballs], path.join(root, 'packages', p));
    if (r.status !== 0) throw new Error(`pnpm pack ${p} failed: ${r.out}`);
  }
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'lab-experiment', private: true, type: 'module' }));
  const files = fs.readdirSync(tarballs).map((f) => path.join(tarballs, f));
  const r = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...files], app, 400_000);
  if (r.status !== 0) installError = r.out;
}, 600_000);

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});

describe('installed from packed tarballs with npm, outside the repository', () => {
  it('npm installs every package from its tarball', () => {
    expect(installError, installError).toBeUndefined();
    for (const p of PACKAGES) expect(fs.existsSync(path.join(app, 'node_modules', '@rtfmri', p, 'package.json'))).toBe(true);
    // The app's copies, not links into the repository.
    expect(fs.realpathSync(path.join(app, 'node_modules', '@rtfmri', 'sdk')).startsWith(app)).toBe(true);
  });

  it('npx rtfmri --help and --version work', () => {
    const help = run('npx', ['--no-install', 'rtfmri', '--help'], app, 60_000);
    expect(help.status, help.out).toBe(0);
    expect(help.out).toMatch(/Usage: rtfmri COMMAND/);
    expect(help.out).toMatch(/relay/);
    const version = run('npx', ['--no-install', 'rtfmri', '--version'], app, 60_000);
    expect(version.status, version.out).toBe(0);
    expect(version.out.trim()).toBe(JSON.parse(fs.readFileSync(path.join(root, 'packages/cli/package.json'), 'utf8')).version);
    const relayOnly = run('npx', ['--no-install', 'rtfmri-relay', '--help'], app, 60_000);
    expect(relayOnly.status, relayOnly.out).toBe(0);
    expect(relayOnly.out).toMatch(/Usage: rtfmri relay/);
  });

  it('a script importing @rtfmri/sdk reaches a runtime through a relay, all from the install', async () => {
    const data = path.join(work, 'data');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'hello.txt'), 'from the control room');
    const [, url] = await startBin(['rtfmri', 'relay', '--port', '0'], /relay listening on (ws:\/\/\S+)/);
    await startBin(['rtfmri', 'serve', '--connect', url!, '--name', 'scanner1', '--allowed-dirs', data, '--allowed-file-types', '.txt'], /serving/);
    // The experiment gets a client token minted from the site secret (kept in a mode-600 file).
    const secretFile = path.join(work, 'site-secret');
    fs.writeFileSync(secretFile, TOKEN + '\n', { mode: 0o600 });
    const minted = run('npx', ['--no-install', 'rtfmri', 'token', 'client', '--runtimes', 'scanner1', '--ttl', '1h', '--token-file', secretFile], app, 60_000);
    expect(minted.status, minted.out).toBe(0);
    const clientToken = minted.out.trim().split('\n').pop()!;
    expect(clientToken).toMatch(/^rtfmri1\.c\./);
    fs.writeFileSync(
      path.join(app, 'experiment.mjs'),
      `import { DataInterface } from '@rtfmri/sdk';
const di = new DataInterface({ dataRemote: true, url: process.argv[2], token: process.argv[3], name: 'scanner1' });
await di.waitForRuntime(20);
const rtt = await di.ping();
const text = new TextDecoder().decode(await di.getFile(process.argv[4]));
console.log(JSON.stringify({ rtt: typeof rtt, text, files: await di.listFiles(process.argv[5]) }));
await di.close();
`,
    );
    const r = run(process.execPath, ['experiment.mjs', url!, clientToken, path.join(data, 'hello.txt'), path.join(data, '*.txt')], app, 60_000);
    expect(r.status, r.out).toBe(0);
    const got = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(got).toEqual({ rtt: 'number', text: 'from the control room', files: [path.join(data, 'hello.txt')] });
  });

  it('a relay-only machine installs @rtfmri/relay and @rtfmri/transport, nothing of the runtime, DICOM or WebRTC', () => {
    const relayApp = path.join(work, 'relay-only');
    fs.mkdirSync(relayApp);
    fs.writeFileSync(path.join(relayApp, 'package.json'), JSON.stringify({ name: 'cloud-relay', private: true }));
    const tarballs = fs.readdirSync(path.join(work, 'tarballs')).filter((f) => /rtfmri-(relay|transport)-/.test(f)).map((f) => path.join(work, 'tarballs', f));
    expect(tarballs).toHaveLength(2);
    const r = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], relayApp, 300_000);
    expect(r.status, r.out).toBe(0);
    const installed = fs.readdirSync(path.join(relayApp, 'node_modules')).flatMap((d) => (d.startsWith('@') ? fs.readdirSync(path.join(relayApp, 'node_modules', d)).map((x) => `${d}/${x}`) : [d]));
    for (const absent of ['@rtfmri/runtime', '@rtfmri/dicom-wasm', '@rtfmri/sdk', 'piscina', 'xstate', 'chokidar', 'node-datachannel']) expect(installed).not.toContain(absent);
    const help = run('npx', ['--no-install', 'rtfmri-relay', '--help'], relayApp, 60_000);
    expect(help.status, help.out).toBe(0);
    expect(help.out).toMatch(/Usage: rtfmri relay/);
  });
});
