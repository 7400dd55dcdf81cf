// `rtfmri serve --listen` binds loopback by default (issue 13) and says how to serve the LAN.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { capture, until } from './io.js';

describe('rtfmri serve --listen', () => {
  it('binds 127.0.0.1 unless --host is given, with a hint for real deployments', async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-serve-listen-')));
    const tokenFile = path.join(dir, 'site');
    fs.writeFileSync(tokenFile, 'listen-test-token\n', { mode: 0o600 });
    const stop = new AbortController();
    const io = capture(stop.signal);
    const done = main(['serve', '--listen', '0', '--token-file', tokenFile, '--uid-secret-file', path.join(dir, 'uid'), '--allowed-dirs', dir, '--allowed-file-types', '.dcm', '--no-webrtc'], io);
    try {
      await until(() => io.stdout.some((l) => /this machine only/.test(l)));
      const lines = io.stdout.join('\n');
      expect(lines).toMatch(/listening on ws:\/\/127\.0\.0\.1:\d+/);
      expect(lines).toMatch(/listening on this machine only \(a trial\); for experiment computers on the LAN: --host 0\.0\.0\.0/);
    } finally {
      stop.abort();
      expect(await done).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
