// `rtfmri serve --phi`: the operator's PHI policy (runtime README, "What leaves the building").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { capture, until } from './io.js';


describe('rtfmri serve --phi', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rtfmri-serve-phi-')));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // The relay is unreachable (port 1): serve starts, says what it serves, and keeps retrying.
  const serve = async (extra: string[]) => {
    const stop = new AbortController();
    const io = capture(stop.signal);
    const done = main(['serve', '--connect', 'ws://127.0.0.1:1', '--token', 't', '--allowed-dirs', dir, '--allowed-file-types', '.dcm', ...extra], io);
    await until(() => io.stdout.some((l) => /serving|WARNING/.test(l)));
    stop.abort();
    expect(await done).toBe(0);
    return io.stdout;
  };

  it('default: anonymize, no warning', async () => {
    const out = await serve([]);
    expect(out.some((l) => /phi anonymize/.test(l))).toBe(true);
    expect(out.some((l) => /WARNING/.test(l))).toBe(false);
  });

  it('allow-raw: a warning line at start', async () => {
    const out = await serve(['--phi', 'allow-raw', '--quiet']);
    expect(out.filter((l) => /WARNING: --phi allow-raw/.test(l))).toHaveLength(1);
  });

  it('anything else is a usage error', async () => {
    const io = capture();
    expect(await main(['serve', '--connect', 'ws://127.0.0.1:1', '--token', 't', '--allowed-dirs', dir, '--allowed-file-types', '.dcm', '--phi', 'raw'], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--phi: use anonymize or allow-raw/);
  });
});
