// The README's main job (`npm start`, after the build): `rtfmri demo` — a relay, a control-room
// runtime, a replayed EPI run and the neurofeedback example through the relay. Arguments are
// passed on (e.g. `npm start -- --tr 0.5 --volumes 20 --data synthetic`).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/rtfmri.js'), 'demo', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
