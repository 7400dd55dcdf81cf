// The participant display: streams the replayed run from the control-room runtime (directly over
// WebRTC when it can, through the relay otherwise), draws each volume, plots the ROI time course.
// Settings come from the URL's fragment (#relay=...; never sent to a web server or its logs) or its
// query: relay=ws://host:port&token=...&name=scanner1&dir=/data/scan&pattern=vol_{TR:03d}.dcm
//   &transport=auto|webrtc|websocket&n=20&view=mosaic|slice. The token is a short-lived client
//   token scoped to streams ('rtfmri token client --methods stream --ttl 3h'), never the site secret.
import { DataInterface, DisconnectedError, TimeoutError, type FrameResult, type LinkStatus } from '@rtfmri/sdk/browser';
import { syntheticRoi } from '@rtfmri/dicom-wasm/synthetic';

const q = new URLSearchParams(location.hash.length > 1 ? location.hash.slice(1) : location.search);
const cfg = {
  relay: q.get('relay') ?? `ws://${location.hostname}:8888`,
  token: q.get('token') ?? '',
  name: q.get('name') ?? 'scanner1',
  dir: q.get('dir') ?? '',
  pattern: q.get('pattern') ?? 'vol_{TR:03d}.dcm',
  transport: (q.get('transport') ?? 'auto') as 'auto' | 'webrtc' | 'websocket',
  n: Number(q.get('n') ?? 0) || Infinity,
  minSize: Number(q.get('minSize') ?? 0),
  timeout: Number(q.get('timeout') ?? 5),
  // 'synthetic': the ROI of the generated demo run (its block-design signal); default: a box at the centre.
  roi: q.get('roi') === 'synthetic' ? syntheticRoi() : undefined,
};

const $ = <T extends Element>(id: string) => document.getElementById(id) as unknown as T;
const canvas = $<HTMLCanvasElement>('image');
const ctx = canvas.getContext('2d')!;
const plot = $<SVGSVGElement>('plot');
const view = $<HTMLSelectElement>('view');
const slice = $<HTMLInputElement>('slice');
view.value = q.get('view') === 'slice' ? 'slice' : 'mosaic';
/** The slice to show in 'slice' view (default: the middle one, once the first volume tells the count). */
let chosenSlice: number | undefined = q.get('slice') !== null ? Number(q.get('slice')) : undefined;
const showSliceControl = () => {
  $<HTMLElement>('slice-label').hidden = view.value !== 'slice';
  $('slice-out').textContent = slice.value;
};
view.addEventListener('change', showSliceControl);
slice.addEventListener('input', () => {
  chosenSlice = Number(slice.value);
  showSliceControl();
});
showSliceControl();

/** Everything the page saw, for tests and benchmarks (window.rtfmri). */
interface Drawn {
  index: number;
  instanceNumber: number | undefined;
  roi: number;
  link: string | undefined;
  receivedAt: number;
  drawnAt: number;
}
const log = {
  frames: [] as Drawn[],
  statuses: [] as Array<LinkStatus & { at: number }>,
  /** Transfer syntaxes that needed the codecs, with counts. */
  decoded: {} as Record<string, number>,
  state: 'connecting' as 'connecting' | 'live' | 'disconnected' | 'done' | 'error',
  error: undefined as string | undefined,
};
(window as unknown as { rtfmri: typeof log }).rtfmri = log;

const now = () => performance.timeOrigin + performance.now();

function setState(state: typeof log.state, text: string): void {
  log.state = state;
  document.body.dataset.state = state;
  $('status').textContent = text;
  $<HTMLElement>('banner').hidden = state !== 'disconnected';
}

function linkLabel(link: string | undefined): string {
  if (link === 'webrtc') return 'direct (WebRTC)';
  if (link?.startsWith('relay')) return 'via relay (WebSocket)';
  return '–';
}

function onStatus(s: LinkStatus): void {
  log.statuses.push({ ...s, at: now() });
  if (s.connected) {
    setState('live', `Live · ${linkLabel(s.link)}`);
    $('link').textContent = linkLabel(s.link);
    $<HTMLElement>('link').title = s.reason ?? '';
  } else if (log.state !== 'done') {
    setState('disconnected', 'Disconnected · reconnecting…');
    $('link').textContent = 'none';
  }
}

function draw(f: FrameResult): void {
  if (canvas.width !== f.width || canvas.height !== f.height) {
    canvas.width = f.width;
    canvas.height = f.height;
  }
  ctx.putImageData(new ImageData(f.rgba as Uint8ClampedArray<ArrayBuffer>, f.width, f.height), 0, 0);
}

function drawPlot(): void {
  const pts = log.frames;
  const W = 600, H = 260, pad = 16;
  const total = Math.max(pts.length, Number.isFinite(cfg.n) ? cfg.n : 0, 2);
  let lo = Math.min(...pts.map((p) => p.roi));
  let hi = Math.max(...pts.map((p) => p.roi));
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const x = (i: number) => pad + (i / (total - 1)) * (W - 2 * pad);
  const y = (v: number) => H - pad - ((v - lo) / (hi - lo)) * (H - 2 * pad);
  const coords = pts.map((p) => `${x(p.index).toFixed(1)},${y(p.roi).toFixed(1)}`);
  plot.innerHTML =
    `<polyline points="${coords.join(' ')}"/>` +
    pts.map((p) => `<circle cx="${x(p.index).toFixed(1)}" cy="${y(p.roi).toFixed(1)}" r="3.5"><title>TR ${p.index}: ${p.roi.toFixed(1)}</title></circle>`).join('');
}

async function main(): Promise<void> {
  if (!cfg.dir) throw new Error('missing ?dir= (the scanner folder on the runtime)');
  const di = new DataInterface({
    dataRemote: true,
    url: cfg.relay,
    token: cfg.token,
    name: cfg.name,
    transport: cfg.transport,
    onStatus,
    // This page's worker (the SDK's, plus cornerstone's codecs), beside app.js.
    worker: new URL('./worker.js', import.meta.url),
  });
  (window as unknown as { rtfmriDi: DataInterface }).rtfmriDi = di;
  window.addEventListener('pagehide', () => void di.close());
  let stream: number | undefined;
  let last: number | undefined;
  while (log.frames.length < cfg.n) {
    try {
      if (stream === undefined) {
        await di.waitForRuntime(30);
        stream = await di.initScannerStream(cfg.dir, cfg.pattern, cfg.minSize);
        (window as unknown as { rtfmriStream: number }).rtfmriStream = stream;
      }
      const f = await di.getVolumeFrame(stream, undefined, cfg.timeout, { mode: view.value as 'mosaic' | 'slice', slice: chosenSlice, roi: cfg.roi });
      draw(f);
      if (Number(slice.max) !== f.slices - 1) {
        slice.max = String(f.slices - 1);
        slice.value = String(chosenSlice ?? Math.floor(f.slices / 2));
        showSliceControl();
      }
      if (f.decoded) log.decoded[f.transferSyntaxUID] = (log.decoded[f.transferSyntaxUID] ?? 0) + 1;
      const drawnAt = now();
      log.frames.push({ index: f.index, instanceNumber: f.instanceNumber, roi: f.roi, link: f.link, receivedAt: f.receivedAt, drawnAt });
      if (log.state !== 'live') setState('live', `Live · ${linkLabel(f.link)}`);
      $('volume-index').textContent = String(f.index);
      $('roi-value').textContent = f.roi.toFixed(1);
      $('link').textContent = linkLabel(f.link);
      $('latency').textContent = `${(drawnAt - f.receivedAt).toFixed(1)} ms`;
      $('interval').textContent = last === undefined ? '–' : `${((drawnAt - last) / 1000).toFixed(2)} s`;
      $('count').textContent = String(log.frames.length);
      last = drawnAt;
      drawPlot();
    } catch (e) {
      if (e instanceof TimeoutError) continue; // the scanner has not written the next volume yet
      if (e instanceof DisconnectedError) {
        if (log.state !== 'disconnected') setState('disconnected', 'Disconnected · reconnecting…');
        $('link').textContent = 'none';
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw e;
    }
  }
  setState('done', `Run complete · ${log.frames.length} volumes`);
}

main().catch((e: Error) => {
  log.error = `${e.name}: ${e.message}`;
  setState('error', `Error: ${e.message}`);
  console.error(e);
});
