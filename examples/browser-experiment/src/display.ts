// rt-cloud's web display on the rtfmri feedback channel, as state: what an experimenter page shows
// from the hub's events (plots per run, run status, logs, errors, upload log, the configuration).
// Shared by this page and examples/jspsych-task's monitor; rendering uses plot.ts.
import type { DisplayEvent } from '@rtfmri/sdk/browser';
import { linePlot, type PlotPoint } from './plot.js';

export type RunPoints = Array<{ x: number; y: number | null }>;

export interface DisplayState {
  /** Per run (runId from 1): its points {x: trId, y: value}. */
  runs: Record<number, RunPoints>;
  status: string;
  /** userLog and sessionLog lines, and user errors as 'ERROR: ...'. */
  logs: string[];
  /** sendUploadStatus lines. */
  uploads: string[];
  /** The last sendConfig: the configuration and its file name. */
  config?: { value: Record<string, unknown>; filename: string };
  /** The highest event seq applied (the next long poll asks for events after it). */
  seq: number;
}

export const emptyDisplay = (): DisplayState => ({ runs: {}, status: '', logs: [], uploads: [], seq: 0 });

/** rt-cloud's dataPoints (index runId - 1) -> runs, leaving out its placeholder [{x: 0, y: 0}] of run 1. */
export function runsFromDataPoints(points: RunPoints[]): Record<number, RunPoints> {
  const runs: Record<number, RunPoints> = {};
  points.forEach((pts, i) => {
    if (pts.length && !(i === 0 && pts.length === 1 && pts[0].x === 0 && pts[0].y === 0)) runs[i + 1] = pts.map((p) => ({ ...p }));
  });
  return runs;
}

/** Applies one event (events are applied in seq order; an event seen before is ignored). */
export function applyDisplayEvent(st: DisplayState, e: DisplayEvent): void {
  if (e.seq <= st.seq) return;
  st.seq = e.seq;
  switch (e.cmd) {
    case 'plotDataPoint': {
      if (e.trId === null) st.runs[e.runId] = [];
      else {
        const pts = (st.runs[e.runId] ??= []);
        const i = pts.findIndex((p) => p.x === e.trId);
        if (i >= 0) pts[i] = { x: e.trId, y: e.value };
        else pts.push({ x: e.trId, y: e.value });
      }
      break;
    }
    case 'clearAllPlots':
      st.runs = {};
      break;
    case 'setDataPoints':
      st.runs = runsFromDataPoints(e.value);
      break;
    case 'userLog':
    case 'sessionLog':
      st.logs.push(e.value);
      break;
    case 'userError':
      st.logs.push(`ERROR: ${e.error}`);
      break;
    case 'runStatus':
      st.status = e.status;
      break;
    case 'uploadStatus':
      st.uploads.push(e.file);
      break;
    case 'setConfig':
      st.config = { value: e.value, filename: e.filename };
      break;
    default:
      // debugLog / debugError: the debug view of rt-cloud's page, not shown here.
      break;
  }
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Each run's result plot (TR index on x, as rt-cloud's trId; the analysis' value on y). */
export function renderRuns(st: DisplayState, yLabel = 'result'): string {
  return Object.entries(st.runs)
    .map(([r, pts]) => {
      const points: PlotPoint[] = pts.map((p) => ({ x: p.x, y: p.y, title: `run ${r}, TR ${p.x}: ${p.y}` }));
      return `<div class="run" data-run="${r}"><h3>Run ${r}</h3>${linePlot(points, { xLabel: 'TR (volume index)', yLabel, yIncludeZero: true, height: 200, ariaLabel: `run ${r} results` })}</div>`;
    })
    .join('');
}

/** The configuration as a definition list (title first, then every top-level key). */
export function renderConfig(st: DisplayState): string {
  if (!st.config) return '';
  const { value, filename } = st.config;
  const rows = Object.entries(value).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(typeof v === 'string' ? v : JSON.stringify(v))}</dd>`);
  const title = typeof value.title === 'string' ? `<strong class="config-title">${esc(value.title)}</strong> ` : '';
  return `${title}<span class="config-file">${esc(filename || '(no file name)')}</span><dl class="config">${rows.join('')}</dl>`;
}

/**
 * Follows the web display's events for ever: applies each batch to `st` and calls `render`. A
 * failed wait (a dropped link: the SDK reconnects) goes to `onError`, then the wait resumes.
 */
export async function followDisplayEvents(
  web: { getDisplayEvents(after: number, timeout: number): Promise<DisplayEvent[]> },
  st: DisplayState,
  render: () => void,
  onError: (e: Error) => void = () => {},
): Promise<never> {
  for (;;) {
    try {
      const evs = await web.getDisplayEvents(st.seq, 10);
      for (const e of evs) applyDisplayEvent(st, e);
      if (evs.length) render();
    } catch (e) {
      onError(e as Error);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
