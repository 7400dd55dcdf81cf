// The contract over real WebRTC data channels (node-datachannel), run in a child process inside
// its own network namespace (`unshare -n`, loopback only) so no packet can leave the machine.
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { canUnshare, ensureDist, pkgDir } from './helpers.js';
import { cases } from './contract-cases.js';

const permitted = canUnshare();
if (!permitted) console.warn('SKIP WebRTC contract: `unshare -n` is not permitted here (needs root or user namespaces)');

type Result = { name: string; ok: boolean; ms: number; error?: string; detail?: unknown };

describe.skipIf(!permitted)('contract over WebRTC (node-datachannel, own network namespace)', () => {
  let results: Result[] = [];
  beforeAll(async () => {
    ensureDist();
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('unshare', ['-n', 'sh', '-c', 'ip link set lo up; exec node --import tsx test/webrtc-child.ts'], {
        cwd: pkgDir,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let buf = '';
      child.stdout.on('data', (d) => (buf += d));
      child.on('error', reject);
      child.on('exit', () => resolve(buf));
    });
    const line = out.split('\n').find((l) => l.startsWith('RESULTS '));
    if (!line) throw new Error(`WebRTC child printed no results:\n${out.slice(-2000)}`);
    results = JSON.parse(line.slice('RESULTS '.length));
  }, 170_000);

  const names = [...cases.map((c) => c.name), 'peer killed mid-transfer (child process, SIGKILL)'];
  for (const name of names) {
    it(name, () => {
      const r = results.find((x) => x.name === name);
      expect(r, `no result for ${name}`).toBeDefined();
      if (!r!.ok) throw new Error(r!.error);
    });
  }
});
