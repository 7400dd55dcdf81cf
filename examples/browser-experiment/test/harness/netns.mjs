// Runs a command inside a fresh network namespace with a veth and a default route (what Chromium
// needs to gather WebRTC host candidates), with addresses that exist only inside that namespace.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const NETNS_ADDR = '10.77.0.1';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserTestsUnavailable(chromium = process.env.RTFMRI_CHROMIUM ?? '/usr/bin/chromium') {
  if (!existsSync(chromium)) return `no Chromium at ${chromium} (apt-get install -y --no-install-recommends chromium)`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link add v0 type veth peer name v1 && echo ok'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.includes('ok')) return `cannot make a network namespace with a veth (unshare -n + iproute2, as root): ${(r.stderr || r.error?.message || '').trim()}`;
  return undefined;
}

/**
 * Spawns `argv` inside a new namespace; returns the ChildProcess. `veth: false`: loopback only (a
 * machine with no network interface: no WebRTC candidates for Chromium).
 */
export function spawnInNetns(argv, { veth = true, ...options } = {}) {
  const quoted = argv.map((a) => `'${String(a).replace(/'/g, `'\\''`)}'`).join(' ');
  if (!veth) return spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec ${quoted}`], { ...options, env: { ...process.env, RTFMRI_TEST_ADDR: '127.0.0.1', ...(options.env ?? {}) } });
  const script = [
    'ip link set lo up',
    'ip link add v0 type veth peer name v1',
    `ip addr add ${NETNS_ADDR}/24 dev v0`,
    'ip link set v0 up',
    'ip link set v1 up',
    'ip route add default via 10.77.0.2 dev v0',
    `exec ${quoted}`,
  ].join(' && ');
  return spawn('unshare', ['-n', 'sh', '-c', script], { ...options, env: { ...process.env, RTFMRI_TEST_ADDR: NETNS_ADDR, ...(options.env ?? {}) } });
}
