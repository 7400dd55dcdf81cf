import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bool, type Command, num, parse, str, UsageError } from '@rtfmri/relay/cli';

const help = `Usage: rtfmri demo [--tr SECONDS] [--volumes N] [--data auto|synthetic|sample] [--rename] [--verbose]
       rtfmri demo --browser [--tr SECONDS] [--volumes N] [--port PORT]

The main job on built-in data, one command, nothing else running: starts a relay and a
control-room runtime (child processes), replays an EPI run into a temp folder the way a scanner
writes it, and runs the neurofeedback example (examples/neurofeedback) through the relay. Per TR
it prints the volume index, the ROI signal and the latency from the file being complete on disk
to the experiment holding the parsed, anonymized dataset; then a latency summary.

Options:
  --tr SECONDS     time per volume (default 0.5)
  --volumes N      volumes to replay (default: 40 synthetic, or the sample's 10)
  --data KIND      auto (default: the rt-cloud sample run in ../shared/data/rtcloud-sample when
                   present, else synthetic), synthetic (generated run with a block-design
                   signal in an ROI), or sample
  --rename         write each file under a temp name and rename it in (default: in place, in chunks)
  --verbose        show the relay's and the runtime's logs
  --browser        the browser experiment instead (examples/browser-experiment): prints the URL
                   of the page (live volume, ROI plot of the run's own ROI, link and latency),
                   replays a synthetic run once it is opened, runs until Ctrl-C. The runtime
                   offers the page a direct WebRTC channel on this machine's first non-loopback
                   IPv4 address (or RTFMRI_WEBRTC_BIND); when it cannot (no such interface,
                   node-datachannel not loadable) it says why here and on the page, and the page
                   uses the relay
  --port PORT      with --browser: port of the page's web server (default: a free one)
  -h, --help       this help`;

/** examples/neurofeedback's compiled demo, next to this package in the repository. */
function demoModule(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '../../../examples/neurofeedback/dist/demo.js');
}

/** `--browser`: examples/browser-experiment's demo session (its page built by turbo). */
async function runBrowser(p: Parameters<typeof num>[0], io: Parameters<Command['run']>[1]): Promise<number> {
  const here = dirname(fileURLToPath(import.meta.url));
  const mod = resolve(here, '../../../examples/browser-experiment/scripts/demo.mjs');
  if (!existsSync(mod)) throw new Error(`the browser demo needs the repository's examples/browser-experiment (${mod} is missing)`);
  const { runBrowserDemo } = (await import(pathToFileURL(mod).href)) as {
    runBrowserDemo(o: { tr: number; volumes: number; port: number; verbose: boolean; out: (l: string) => void; signal: AbortSignal }): Promise<{ volumes: number }>;
  };
  await runBrowserDemo({ tr: num(p, 'tr', { min: 0.05, max: 10 }) ?? 1, volumes: num(p, 'volumes', { int: true, min: 1, max: 10_000 }) ?? 60, port: num(p, 'port', { int: true, min: 0, max: 65535 }) ?? 0, verbose: bool(p, 'verbose'), out: io.out, signal: io.signal });
  return 0;
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'relay + runtime + replayed EPI run + neurofeedback example, one command',
  help,
  async run(argv, io) {
    const p = parse(argv, { tr: { type: 'string' }, volumes: { type: 'string' }, data: { type: 'string' }, rename: { type: 'boolean' }, verbose: { type: 'boolean' }, browser: { type: 'boolean' }, port: { type: 'string' } }, { min: 0, max: 0 });
    if (p.values.help) return io.out(help), 0;
    if (bool(p, 'browser')) return runBrowser(p, io);
    const tr = num(p, 'tr', { min: 0.05, max: 10 }) ?? 0.5;
    const volumes = num(p, 'volumes', { int: true, min: 1, max: 10_000 });
    const data = str(p, 'data') ?? 'auto';
    if (!['auto', 'synthetic', 'sample'].includes(data)) throw new UsageError(`--data must be auto, synthetic or sample, got '${data}'`);
    const mod = demoModule();
    if (!existsSync(mod)) throw new Error(`the demo needs the repository's examples/neurofeedback built (${mod} is missing): run 'npx turbo run build'`);
    const { runDemo } = (await import(pathToFileURL(mod).href)) as {
      runDemo(o: { tr: number; volumes?: number; data: string; rename: boolean; verbose: boolean; out: (l: string) => void }): Promise<{ volumes: number }>;
    };
    const s = await runDemo({ tr, volumes, data, rename: bool(p, 'rename'), verbose: bool(p, 'verbose'), out: io.out });
    return s.volumes > 0 ? 0 : 1;
  },
};
