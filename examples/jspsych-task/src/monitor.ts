// The experimenter's monitor: rt-cloud's web display on the rtfmri feedback channel. A
// 'display'-scoped token reads the hub's events (plotDataPoint, clearRunPlot, userLog,
// sendRunStatus) by long poll and draws one plot per run, with axes, plus the run status, the log
// and the link in use (and why, when it is not the direct one). window.rtfmriMonitor for tests.
import { DataInterface, WebDisplayInterface, type DisplayEvent, type LinkStatus } from '@rtfmri/sdk/browser';

type Point = { x: number; y: number | null };
interface MonitorState {
  state: 'connecting' | 'live' | 'error';
  error?: string;
  runs: Record<number, Point[]>;
  status: string;
  logs: string[];
  link?: LinkStatus;
  seq: number;
}
const st: MonitorState = { state: 'connecting', runs: {}, status: '', logs: [], seq: 0 };
(window as unknown as { rtfmriMonitor: MonitorState }).rtfmriMonitor = st;

const q = new URLSearchParams(location.search);
const $ = (id: string) => document.getElementById(id)!;

function apply(e: DisplayEvent): void {
  if (e.cmd === 'plotDataPoint') {
    if (e.trId === null) st.runs[e.runId] = [];
    else {
      const pts = (st.runs[e.runId] ??= []);
      const i = pts.findIndex((p) => p.x === e.trId);
      if (i >= 0) pts[i] = { x: e.trId, y: e.value };
      else pts.push({ x: e.trId, y: e.value });
    }
  } else if (e.cmd === 'clearAllPlots') st.runs = {};
  else if (e.cmd === 'userLog' || e.cmd === 'sessionLog') st.logs.push(e.value);
  else if (e.cmd === 'userError') st.logs.push(`ERROR: ${e.error}`);
  else if (e.cmd === 'runStatus') st.status = e.status;
  st.seq = Math.max(st.seq, e.seq);
}

const niceStep = (span: number) => {
  const raw = span / 4;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
};

/** One run's plot: TR on x, the result on y, with ticks and labels. */
function plot(runId: number, pts: Point[]): string {
  const W = 640, H = 200, L = 44, B = 28, T = 8, R = 10;
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y).filter((y): y is number => y !== null);
  const x1 = Math.max(10, ...xs);
  let y0 = Math.min(0, ...ys), y1 = Math.max(1e-9, ...ys);
  if (y1 - y0 < 1e-9) y1 = y0 + 1;
  const pad = (y1 - y0) * 0.1;
  y0 -= pad; y1 += pad;
  const sx = (x: number) => L + (x / x1) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - B - T);
  const ticks: string[] = [];
  const ys_ = niceStep(y1 - y0);
  for (let v = Math.ceil(y0 / ys_) * ys_; v <= y1; v += ys_) ticks.push(`<line x1="${L - 4}" x2="${W - R}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e4e4e4"/><text x="${L - 6}" y="${sy(v) + 4}" text-anchor="end">${+v.toFixed(3)}</text>`);
  const xs_ = niceStep(x1);
  for (let v = 0; v <= x1; v += xs_) ticks.push(`<line x1="${sx(v)}" x2="${sx(v)}" y1="${H - B}" y2="${H - B + 4}" stroke="#888"/><text x="${sx(v)}" y="${H - B + 16}" text-anchor="middle">${v}</text>`);
  const sorted = [...pts].filter((p) => p.y !== null).sort((a, b) => a.x - b.x);
  const path = sorted.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y!).toFixed(1)}`).join('');
  const dots = sorted.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y!).toFixed(1)}" r="2.5" fill="#2a7"><title>TR ${p.x}: ${p.y}</title></circle>`).join('');
  return `<div class="run" data-run="${runId}"><h3>Run ${runId}</h3><svg width="${W}" height="${H}" role="img" aria-label="run ${runId} results">${ticks.join('')}`
    + `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`
    + `<text x="${(L + W) / 2}" y="${H - 2}" text-anchor="middle">TR (volume index)</text><text x="12" y="${(H - B) / 2}" transform="rotate(-90 12 ${(H - B) / 2})" text-anchor="middle">result</text>`
    + `<path d="${path}" fill="none" stroke="#2a7" stroke-width="1.5"/>${dots}</svg></div>`;
}

function render(): void {
  $('status').textContent = st.status || '-';
  $('plots').innerHTML = Object.entries(st.runs).map(([r, pts]) => plot(Number(r), pts)).join('');
  $('log').textContent = st.logs.join('\n');
}

function showLink(s: LinkStatus): void {
  st.link = s;
  $('link').textContent = s.connected ? `${s.link === 'webrtc' ? 'direct (WebRTC)' : 'via relay (WebSocket)'}${s.reason ? ` (${s.reason})` : ''}` : `disconnected${s.reason ? `: ${s.reason}` : ''}`;
}

async function main() {
  const di = new DataInterface({
    dataRemote: true,
    url: q.get('relay') ?? `ws://${location.hostname}:8888`,
    token: q.get('token') ?? '',
    name: q.get('name') ?? 'scanner1',
    clientId: q.get('client') ?? 'monitor',
    transport: (q.get('transport') as 'websocket' | 'webrtc' | 'auto' | null) ?? 'websocket',
    onStatus: showLink,
  });
  await di.waitForRuntime(30);
  const web = new WebDisplayInterface(di);
  const prev = await web.getPreviousDataPoints();
  prev.forEach((pts, i) => {
    if (pts.length && !(i === 0 && pts.length === 1 && pts[0].x === 0 && pts[0].y === 0)) st.runs[i + 1] = pts;
  });
  st.state = 'live';
  render();
  for (;;) {
    try {
      const evs = await web.getDisplayEvents(st.seq, 10);
      for (const e of evs) apply(e);
      if (evs.length) render();
    } catch (e) {
      // A dropped link: the SDK reconnects; poll again shortly.
      showLink({ connected: false, reason: (e as Error).message });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

main().catch((e: Error) => {
  st.state = 'error';
  st.error = `${e.name}: ${e.message}`;
  $('status').textContent = `Cannot connect: ${e.message}`;
});
