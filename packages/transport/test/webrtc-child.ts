// Runs the contract over WebRTC links inside the network namespace made by webrtc.test.ts
// (`unshare -n`), loading the compiled dist/. Prints one JSON line: [{ name, ok, ms, error? }].
import { fileURLToPath } from 'node:url';
import * as T from '../dist/node.js';
import { cases, killedPeerCase, type Env } from './contract-cases.js';
import { createLocalSignalerPair } from './signaling.mjs';
import type { Link } from '../src/link.js';

const env: Env = {
  T: T as unknown as Env['T'],
  bigBytes: 24 * 1024 * 1024,
  fuzzRounds: 20,
  // An RpcPeer directly on a data channel runs the heartbeat (as the SDK and the runtime do).
  peer: { heartbeat: true },
  pair: async (): Promise<[Link, Link]> => {
    const [s1, s2] = createLocalSignalerPair();
    const answered: Link[] = [];
    const stop = T.acceptWebRtc(s2, (l) => answered.push(l));
    const a = await T.connectWebRtc({ signaler: s1 });
    stop();
    // the answer for the session that opened
    const b = answered.find((l) => (l as unknown as { session: string }).session === a.session)!;
    for (const l of answered) if (l !== b) l.close('superseded');
    await b.opened;
    return [a, b];
  },
};

const results: Array<{ name: string; ok: boolean; ms: number; error?: string; detail?: unknown }> = [];
const all = [
  ...cases,
  {
    name: 'peer killed mid-transfer (child process, SIGKILL)',
    run: () => killedPeerCase(env.T, 'webrtc', fileURLToPath(new URL('./peer-child.mjs', import.meta.url))),
  },
];
for (const c of all) {
  const t0 = performance.now();
  try {
    const detail = await c.run(env);
    results.push({ name: c.name, ok: true, ms: Math.round(performance.now() - t0), detail });
  } catch (e) {
    results.push({ name: c.name, ok: false, ms: Math.round(performance.now() - t0), error: (e as Error)?.stack ?? String(e) });
  }
}
process.stdout.write('\nRESULTS ' + JSON.stringify(results) + '\n');
T.cleanupWebRtc();
process.exit(0);
