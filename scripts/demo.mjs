// Until the demo session exists (relay + runtime + replay), the main job is the DICOM benchmark.
import { spawnSync } from 'node:child_process';
const r = spawnSync('node', ['scripts/bench.mjs', '--only', 'dicom-wasm'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
