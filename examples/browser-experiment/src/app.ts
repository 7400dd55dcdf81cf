// The experimenter's live view: streams the run from the control-room runtime (directly over
// WebRTC when it can, through the relay otherwise, and says why), draws each volume, plots the ROI
// time course with axes and units, marks late volumes, shows the scanner-to-screen latency, and,
// with a token that allows it, rt-cloud's web display (result plots, run status, logs, uploads,
// configuration). Settings come from the URL's fragment (#relay=...; never sent to a web server or
// its logs) or its query:
//   relay=ws://host:port&token=...&name=scanner1&dir=/data/scan&pattern=vol_{TR:03d}.dcm
//   &transport=auto|webrtc|websocket&n=20&view=mosaic|slice&slice=K&units=raw|psc
//   &roi=synthetic|box:s0,s1,r0,r1,c0,c1   (volume coordinates, end exclusive)   &mask=URL of a NIfTI/DICOM mask
//   &why=... (the demo's reason when it offers no direct WebRTC)   &lateAfter=ms (default two TRs)
// The token is a short-lived client token ('rtfmri token client --methods stream --ttl 3h'; add
// getDisplayEvents,getPreviousDataPoints for the web display panel), never the site secret.
// Numbering: the page shows volumes from 1 ("Volume 5" is the 5th volume, stream/TR index 4), in
// the heading, the counter and the plot's x axis alike.
import {
  CancelledError, DataInterface, DisconnectedError, RoiTimeCourse, TimeoutError, WebDisplayInterface,
  type DicomDataset, type FrameResult, type LinkStatus,
} from '@rtfmri/sdk/browser';
import type { RoiBox } from '@rtfmri/dicom-wasm';
import { syntheticRoi } from '@rtfmri/dicom-wasm/synthetic';
import { linePlot } from './plot.js';
import { emptyDisplay, followDisplayEvents, renderConfig, renderRuns, runsFromDataPoints } from './display.js';
import type { RunMask } from './mask.js';

/** 'box:s0,s1,r0,r1,c0,c1' or 'synthetic' (the generated demo run's ROI) -> a box. */
export function parseRoi(v: string | null): RoiBox | undefined {
  if (!v) return undefined;
  if (v === 'synthetic') return syntheticRoi();
  const m = /^box:(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)$/.exec(v);
  if (!m) throw new Error(`roi=${v}: give 'synthetic' or 'box:slice0,slice1,row0,row1,col0,col1' (end exclusive)`);
  const [slice0, slice1, row0, row1, col0, col1] = m.slice(1).map(Number);
  if (!(slice1 > slice0 && row1 > row0 && col1 > col0)) throw new Error(`roi=${v}: each end must be past its start`);
  return { slice0, slice1, row0, row1, col0, col1 };
}

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
  mask: q.get('mask'),
  why: q.get('why'),
  /** A volume is marked late when it arrives more than this many ms after its acquisition began (default: two TRs). */
  lateAfterMs: q.get('lateAfter') !== null ? Number(q.get('lateAfter')) : undefined,
};

const $ = <T extends Element = HTMLElement>(id: string) => document.getElementById(id) as unknown as T;
const canvas = $<HTMLCanvasElement>('image');
const ctx = canvas.getContext('2d')!;
const view = $<HTMLSelectElement>('view');
const slice = $<HTMLInputElement>('slice');
const units = $<HTMLSelectElement>('units');
view.value = q.get('view') === 'slice' ? 'slice' : 'mosaic';
units.value = q.get('units') === 'psc' ? 'psc' : 'raw';
/** The slice to show in 'slice' view (default: the middle one, once the first volume tells the count). */
let chosenSlice: number | undefined = q.get('slice') !== null ? Number(q.get('slice')) : undefined;

/** Everything the page saw, for tests and benchmarks (window.rtfmri). */
interface Drawn {
  index: number;
  instanceNumber: number | undefined;
  /** The ROI mean under the current ROI (recomputed when the ROI changes). */
  roi: number;
  link: string | undefined;
  receivedAt: number;
  /** Worker: the picture ready (epoch ms); page: the frame in hand, before drawing. */
  readyAt: number;
  gotAt: number;
  /** putImageData returned (the picture is in the canvas), and the next animation frame began (it is painted with that frame). */
  drawnAt: number;
  frameAt?: number;
  /** Bytes of the (anonymized) DICOM received. */
  bytes: number;
  /** Arrived more than lateAfter (default two TRs) after its acquisition began (timingOf). */
  late: boolean;
  ageMs: number | undefined;
  /** Acquisition start (scanner clock, skew-corrected) -> drawn, ms; undefined without AcquisitionTime. */
  scanToScreenMs: number | undefined;
}
const log = {
  frames: [] as Drawn[],
  statuses: [] as Array<LinkStatus & { at: number }>,
  /** Transfer syntaxes that needed the codecs, with counts. */
  decoded: {} as Record<string, number>,
  state: 'connecting' as 'connecting' | 'live' | 'disconnected' | 'done' | 'error',
  error: undefined as string | undefined,
  /** The ROI in use: a box, a mask (its voxel count), or the worker's default centre box. */
  roi: { kind: 'default' } as { kind: 'default' } | { kind: 'box'; box: RoiBox } | { kind: 'mask'; name: string; voxels?: number; how?: string },
  /** Completed redraws of the last volume after a view change, and ROI recomputations over the run so far. */
  redraws: 0,
  recomputes: 0,
  /** The web display panel: 'off' (this token does not allow it) or 'on'. */
  display: 'pending' as 'pending' | 'on' | 'off',
  displayState: emptyDisplay(),
};
(window as unknown as { rtfmri: typeof log }).rtfmri = log;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------- ROI state ----------
let roiBox: RoiBox | undefined;
try {
  roiBox = parseRoi(q.get('roi'));
} catch (e) {
  log.error = (e as Error).message;
}
if (roiBox) log.roi = { kind: 'box', box: roiBox };
let maskFile: { bytes: Uint8Array; name: string } | undefined;
let runMask: RunMask | undefined;
let maskModule: typeof import('./mask.js') | undefined;
const loadMaskModule = async () => (maskModule ??= await import('./mask.js'));

function describeRoi(): string {
  const r = log.roi;
  if (r.kind === 'default') return 'ROI: a box at the centre (draw one on the image, or load a mask)';
  if (r.kind === 'box') {
    const b = r.box;
    const sl = b.slice1 - b.slice0 === 1 ? `slice ${b.slice0 + 1}` : `slices ${b.slice0 + 1}-${b.slice1}`;
    return `ROI: box, ${sl}, rows ${b.row0}-${b.row1 - 1}, columns ${b.col0}-${b.col1 - 1} (${(b.slice1 - b.slice0) * (b.row1 - b.row0) * (b.col1 - b.col0)} voxels)`;
  }
  return r.voxels ? `ROI: mask ${r.name} (${r.voxels} voxels, ${r.how === 'affine' ? 'placed by its affine' : "in the run's grid"})` : `ROI: mask ${r.name} (placed when the first volume arrives)`;
}

// ---------- status ----------
function setState(state: typeof log.state, text: string): void {
  log.state = state;
  document.body.dataset.state = state;
  $('status').textContent = text;
  $('banner').hidden = state !== 'disconnected';
}

function linkLabel(link: string | undefined): string {
  if (link === 'webrtc') return 'direct (WebRTC)';
  if (link?.startsWith('relay')) return 'via relay (WebSocket)';
  return '–';
}

/** Why the direct channel is not in use, in words on the page (not only in a tooltip). */
function showWhy(s: LinkStatus | undefined): void {
  let why = '';
  if (cfg.why && cfg.transport !== 'webrtc') why = `Direct WebRTC not offered: ${cfg.why}`;
  else if (s?.connected && s.link !== 'webrtc') why = s.reason ? `Not direct: ${s.reason}` : cfg.transport === 'websocket' ? 'Relay chosen (transport=websocket).' : '';
  else if (s && !s.connected && s.reason) why = `Link down: ${s.reason}`;
  $('link-why').textContent = why;
  $('link-why').hidden = !why;
}

function onStatus(s: LinkStatus): void {
  log.statuses.push({ ...s, at: now() });
  if (s.connected) {
    if (log.state !== 'done') setState('live', `Live · ${linkLabel(s.link)}`);
    $('link').textContent = linkLabel(s.link);
  } else if (log.state !== 'done') {
    setState('disconnected', 'Disconnected · reconnecting…');
    $('link').textContent = 'none';
  }
  showWhy(s);
}

// ---------- drawing ----------
let lastImage: ImageData | undefined;
let lastFrame: FrameResult | undefined;

/** The box's rectangles on the canvas in the current picture (one per slice shown). */
function boxRects(f: FrameResult, b: RoiBox): Array<[number, number, number, number]> {
  if (f.width === 0) return [];
  const out: Array<[number, number, number, number]> = [];
  const shownSlice = Math.min(f.slices - 1, Math.max(0, chosenSlice ?? Math.floor(f.slices / 2)));
  if (view.value === 'slice' && f.slices > 1) {
    if (shownSlice >= b.slice0 && shownSlice < b.slice1) out.push([b.col0, b.row0, b.col1 - b.col0, b.row1 - b.row0]);
    return out;
  }
  const grid = Math.ceil(Math.sqrt(f.slices));
  const tw = f.width / grid, th = f.height / grid;
  for (let s = b.slice0; s < Math.min(b.slice1, f.slices); s++) {
    const tx = (s % grid) * tw, ty = Math.floor(s / grid) * th;
    out.push([tx + b.col0, ty + b.row0, b.col1 - b.col0, b.row1 - b.row0]);
  }
  return out;
}

function paint(preview?: [number, number, number, number]): void {
  if (!lastImage || !lastFrame) return;
  ctx.putImageData(lastImage, 0, 0);
  ctx.lineWidth = Math.max(1, canvas.width / 256);
  if (log.roi.kind === 'box') {
    ctx.strokeStyle = '#ffd84a';
    for (const [x, y, w, h] of boxRects(lastFrame, log.roi.box)) ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
  }
  if (preview) {
    ctx.strokeStyle = '#5aa9ff';
    ctx.strokeRect(...preview);
  }
}

function draw(f: FrameResult): void {
  if (canvas.width !== f.width || canvas.height !== f.height) {
    canvas.width = f.width;
    canvas.height = f.height;
  }
  lastImage = new ImageData(f.rgba as Uint8ClampedArray<ArrayBuffer>, f.width, f.height);
  lastFrame = f;
  paint();
}

function drawPlot(): void {
  const pts = [...log.frames].sort((a, b) => a.index - b.index);
  const psc = units.value === 'psc';
  let ys: number[] = pts.map((p) => p.roi);
  if (psc) {
    // Without detrending: fitted causally over the run so far, a linear trend absorbs a block's step.
    const tc = new RoiTimeCourse({ baselineVolumes: 10, detrendOrder: null });
    ys = pts.map((p) => tc.push(p.roi).psc);
  }
  const total = Number.isFinite(cfg.n) ? cfg.n : 0;
  $('plot').innerHTML = linePlot(
    pts.map((p, i) => ({
      x: p.index + 1,
      y: Number.isFinite(ys[i]) ? ys[i] : null,
      late: p.late,
      title: `volume ${p.index + 1} (TR index ${p.index}): ${psc ? `${ys[i].toFixed(2)} %` : p.roi.toFixed(1)}${p.late ? ' · arrived late' : ''}`,
    })),
    {
      xLabel: 'volume (1 = first)',
      yLabel: psc ? '% signal change (baseline: mean of volumes 1-10)' : 'ROI mean (scanner units)',
      xMin: 1,
      xMax: Math.max(total, pts.length ? pts.at(-1)!.index + 1 : 1),
      yRef: psc ? 0 : undefined,
      ariaLabel: 'ROI time course',
    },
  );
  const last = pts.at(-1);
  $('roi-value').textContent = last ? (psc ? (Number.isFinite(ys.at(-1)!) ? `${ys.at(-1)!.toFixed(2)} %` : 'baseline…') : last.roi.toFixed(1)) : '–';
  $('roi-desc').textContent = describeRoi();
}

function showSliceControl(): void {
  $('slice-label').hidden = view.value !== 'slice';
  $('slice-out').textContent = String(Number(slice.value) + 1);
}

// ---------- the stream loop, with refreshes (view or ROI changes) ----------
/** Aborts the pending wait for the next volume, so a refresh runs now (also after the run ended). */
class Refresh extends Error {
  override name = 'Refresh';
}
let waiting: AbortController | undefined;
let idleWake: (() => void) | undefined;
const pending = { redraw: false, recompute: false };
function requestRefresh(kind: 'redraw' | 'recompute'): void {
  pending[kind] = true;
  waiting?.abort(new Refresh('refresh'));
  idleWake?.();
}

view.addEventListener('change', () => {
  showSliceControl();
  requestRefresh('redraw');
});
slice.addEventListener('input', () => {
  chosenSlice = Number(slice.value);
  showSliceControl();
  requestRefresh('redraw');
});
units.addEventListener('change', () => drawPlot());
showSliceControl();

// A box drawn on the picture (in 'one slice' view: on that slice; in the mosaic: inside one tile).
let dragFrom: [number, number] | undefined;
const toCanvas = (e: PointerEvent): [number, number] => {
  const r = canvas.getBoundingClientRect();
  return [Math.floor(((e.clientX - r.left) / r.width) * canvas.width), Math.floor(((e.clientY - r.top) / r.height) * canvas.height)];
};
function boxFromDrag(a: [number, number], b: [number, number]): RoiBox | undefined {
  const f = lastFrame;
  if (!f) return undefined;
  if (view.value === 'slice' && f.slices > 1) {
    const s = Math.min(f.slices - 1, Math.max(0, chosenSlice ?? Math.floor(f.slices / 2)));
    const [c0, c1] = [Math.max(0, Math.min(a[0], b[0])), Math.min(f.width - 1, Math.max(a[0], b[0]))];
    const [r0, r1] = [Math.max(0, Math.min(a[1], b[1])), Math.min(f.height - 1, Math.max(a[1], b[1]))];
    return { slice0: s, slice1: s + 1, row0: r0, row1: r1 + 1, col0: c0, col1: c1 + 1 };
  }
  const grid = Math.ceil(Math.sqrt(f.slices));
  const tw = Math.floor(f.width / grid), th = Math.floor(f.height / grid);
  const tc = Math.floor(a[0] / tw), tr = Math.floor(a[1] / th);
  const s = tr * grid + tc;
  if (s >= f.slices) return undefined;
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const [x0, x1] = [a[0], clamp(b[0], tc * tw, tc * tw + tw - 1)].sort((p, q2) => p - q2);
  const [y0, y1] = [a[1], clamp(b[1], tr * th, tr * th + th - 1)].sort((p, q2) => p - q2);
  return { slice0: s, slice1: s + 1, row0: y0 - tr * th, row1: y1 - tr * th + 1, col0: x0 - tc * tw, col1: x1 - tc * tw + 1 };
}
canvas.addEventListener('pointerdown', (e) => {
  if (!lastFrame) return;
  dragFrom = toCanvas(e);
  canvas.setPointerCapture(e.pointerId);
});
canvas.addEventListener('pointermove', (e) => {
  if (!dragFrom) return;
  const p = toCanvas(e);
  paint([Math.min(dragFrom[0], p[0]) + 0.5, Math.min(dragFrom[1], p[1]) + 0.5, Math.abs(p[0] - dragFrom[0]), Math.abs(p[1] - dragFrom[1])]);
});
canvas.addEventListener('pointerup', (e) => {
  if (!dragFrom) return;
  const box = boxFromDrag(dragFrom, toCanvas(e));
  dragFrom = undefined;
  if (!box) return paint();
  roiBox = box;
  runMask = undefined;
  maskFile = undefined;
  log.roi = { kind: 'box', box };
  paint();
  $('roi-desc').textContent = describeRoi();
  requestRefresh('recompute');
});

async function useMask(bytes: Uint8Array, name: string): Promise<void> {
  await loadMaskModule();
  maskFile = { bytes, name };
  runMask = undefined;
  roiBox = undefined;
  log.roi = { kind: 'mask', name };
  $('roi-error').hidden = true;
  $('roi-desc').textContent = describeRoi();
  paint();
  requestRefresh('recompute');
}
$<HTMLInputElement>('mask-file').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) await useMask(new Uint8Array(await file.arrayBuffer()), file.name);
});

function roiError(e: Error): void {
  $('roi-error').textContent = e.message;
  $('roi-error').hidden = false;
}

/** The mask ROI of one volume (its voxels fetched again by index: the worker's frame carries only the picture). */
async function maskRoi(di: DataInterface, stream: number, index: number): Promise<number> {
  const mod = await loadMaskModule();
  const ds: DicomDataset = await di.getImageData(stream, index, cfg.timeout);
  if (!runMask && maskFile) {
    runMask = mod.maskForRun(maskFile.bytes, maskFile.name, ds);
    log.roi = { kind: 'mask', name: maskFile.name, voxels: runMask.voxels, how: runMask.how };
  }
  if (!runMask) return Number.NaN;
  return mod.maskMean(mod.voxelsOf(ds), runMask);
}

const viewOf = () => ({ mode: view.value as 'mosaic' | 'slice', slice: chosenSlice, roi: roiBox, lateAfterMs: cfg.lateAfterMs });

/**
 * When the volume was acquired, on this page's clock, and whether it is late. The frame's own
 * acquisitionTime uses the DICOM AcquisitionDate, which the runtime's anonymization shifts by whole
 * days (years, in fact: the PHI policy keeps the time of day only). So the time of day is taken on
 * the day nearest the volume's arrival, as for a file without a date.
 */
function timingOf(f: FrameResult): { acquiredAt?: number; ageMs?: number; late: boolean } {
  if (f.acquisitionTime === undefined || f.clockSkew === undefined) return { late: false };
  const scannerNow = f.receivedAt / 1000 + f.clockSkew;
  const acq = f.acquisitionTime + Math.round((scannerNow - f.acquisitionTime) / 86400) * 86400;
  const ageMs = (scannerNow - acq) * 1000;
  const lateAfter = cfg.lateAfterMs ?? (f.repetitionTime ? 2000 * f.repetitionTime : 4000);
  return { acquiredAt: (acq - f.clockSkew) * 1000, ageMs, late: ageMs > lateAfter };
}

function showFrame(f: FrameResult, drawnAt: number): Drawn['late'] {
  const t = timingOf(f);
  $('volume-index').textContent = String(f.index + 1);
  $('late').hidden = !t.late;
  if (t.late) $('late').textContent = `late: arrived ${((t.ageMs ?? 0) / 1000).toFixed(1)} s after its acquisition began`;
  const scan = t.acquiredAt === undefined ? undefined : drawnAt - t.acquiredAt;
  $('latency-scan').textContent = scan === undefined ? 'no AcquisitionTime' : `${(scan / 1000).toFixed(2)} s`;
  $('latency').textContent = `${(drawnAt - f.receivedAt).toFixed(1)} ms`;
  return t.late;
}

async function refresh(di: DataInterface, stream: number): Promise<void> {
  if (pending.recompute) {
    pending.recompute = false;
    $('roi-desc').textContent = `${describeRoi()} · recomputing ${log.frames.length} volumes…`;
    try {
      for (const fr of [...log.frames].sort((a, b) => a.index - b.index)) {
        if (pending.recompute) break; // changed again: start over with the newest ROI
        fr.roi = runMask || maskFile ? await maskRoi(di, stream, fr.index) : (await di.getVolumeFrame(stream, fr.index, cfg.timeout, viewOf())).roi;
      }
      if (!pending.recompute) log.recomputes++;
    } catch (e) {
      if (!(e instanceof DisconnectedError)) roiError(e as Error);
      else pending.recompute = true;
      throw e;
    }
    drawPlot();
  }
  if (pending.redraw) {
    pending.redraw = false;
    const last = log.frames.reduce<Drawn | undefined>((a, b) => (!a || b.index > a.index ? b : a), undefined);
    if (last) {
      let f: FrameResult;
      try {
        f = await di.getVolumeFrame(stream, last.index, cfg.timeout, viewOf());
      } catch (e) {
        if (e instanceof DisconnectedError) pending.redraw = true; // again once reconnected
        throw e;
      }
      draw(f);
      showFrame(f, now());
      log.redraws++;
    }
  }
}

async function displayPanel(di: DataInterface): Promise<void> {
  const web = new WebDisplayInterface(di);
  const st = log.displayState;
  try {
    st.runs = runsFromDataPoints(await web.getPreviousDataPoints());
  } catch {
    log.display = 'off'; // this token has no display methods: the panel stays hidden
    return;
  }
  log.display = 'on';
  $('display').hidden = false;
  const render = () => {
    $('run-status').textContent = st.status || '–';
    $('runs').innerHTML = renderRuns(st);
    $('user-log').textContent = st.logs.join('\n');
    $('uploads').textContent = st.uploads.join('\n');
    $('config').innerHTML = renderConfig(st);
  };
  render();
  await followDisplayEvents(web, st, render);
}

async function main(): Promise<void> {
  showWhy(undefined);
  if (log.error) throw new Error(log.error);
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
  if (cfg.mask) {
    try {
      const res = await fetch(cfg.mask);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      await useMask(new Uint8Array(await res.arrayBuffer()), cfg.mask.split('/').pop() ?? cfg.mask);
    } catch (e) {
      roiError(new Error(`mask ${cfg.mask}: ${(e as Error).message}`));
    }
  }
  $('roi-desc').textContent = describeRoi();
  let stream: number | undefined;
  let next = 0;
  let last: number | undefined;
  let displayStarted = false;
  for (;;) {
    try {
      if (stream === undefined) {
        await di.waitForRuntime(30);
        stream = await di.initScannerStream(cfg.dir, cfg.pattern, cfg.minSize);
        (window as unknown as { rtfmriStream: number }).rtfmriStream = stream;
      }
      if (!displayStarted) {
        displayStarted = true;
        void displayPanel(di);
      }
      if (pending.recompute || pending.redraw) {
        await refresh(di, stream);
        continue;
      }
      if (log.frames.length >= cfg.n) {
        if (log.state !== 'done') setState('done', `Run complete · ${log.frames.length} volumes`);
        await new Promise<void>((r) => (idleWake = r));
        idleWake = undefined;
        continue;
      }
      waiting = new AbortController();
      const f = await di.getVolumeFrame(stream, next, cfg.timeout, viewOf(), { signal: waiting.signal });
      const gotAt = now();
      waiting = undefined;
      draw(f);
      const drawnAt = now();
      next = f.index + 1;
      if (Number(slice.max) !== f.slices - 1) {
        slice.max = String(f.slices - 1);
        slice.value = String(chosenSlice ?? Math.floor(f.slices / 2));
        showSliceControl();
      }
      if (f.decoded) log.decoded[f.transferSyntaxUID] = (log.decoded[f.transferSyntaxUID] ?? 0) + 1;
      const t = timingOf(f);
      const scanToScreenMs = t.acquiredAt === undefined ? undefined : drawnAt - t.acquiredAt;
      const entry: Drawn = { index: f.index, instanceNumber: f.instanceNumber, roi: f.roi, link: f.link, receivedAt: f.receivedAt, readyAt: f.readyAt, gotAt, drawnAt, bytes: f.bytes, late: t.late, ageMs: t.ageMs, scanToScreenMs };
      log.frames.push(entry);
      requestAnimationFrame(() => (entry.frameAt = now()));
      if (log.state !== 'live') setState('live', `Live · ${linkLabel(f.link)}`);
      showFrame(f, drawnAt);
      $('link').textContent = linkLabel(f.link);
      $('interval').textContent = last === undefined ? '–' : `${((drawnAt - last) / 1000).toFixed(2)} s`;
      $('count').textContent = String(log.frames.length);
      $('late-count').textContent = String(log.frames.filter((x) => x.late).length);
      last = drawnAt;
      if (runMask || maskFile) {
        try {
          entry.roi = await maskRoi(di, stream, f.index);
        } catch (e) {
          if (e instanceof DisconnectedError) throw e;
          roiError(e as Error);
          entry.roi = Number.NaN;
        }
      }
      drawPlot();
    } catch (e) {
      waiting = undefined;
      if (e instanceof Refresh || (e instanceof CancelledError && (pending.redraw || pending.recompute))) continue;
      if (e instanceof TimeoutError) continue; // the scanner has not written the next volume yet
      if (e instanceof DisconnectedError) {
        if (log.state !== 'disconnected' && log.state !== 'done') setState('disconnected', 'Disconnected · reconnecting…');
        $('link').textContent = 'none';
        await sleep(200);
        continue;
      }
      if (pending.recompute || pending.redraw || (e as Error).name === 'MaskError') continue;
      throw e;
    }
  }
}

main().catch((e: Error) => {
  log.error = `${e.name}: ${e.message}`;
  setState('error', `Error: ${e.message}`);
  console.error(e);
});
