// Line plots with axes, ticks, units and labels as SVG markup: the one plot helper of the
// experimenter pages (this page's ROI time course, examples/jspsych-task's monitor). No DOM
// access: it returns a string; the page styles it with CSS (classes below).
//   svg.rtplot            the plot            .grid  grid lines      .axis  the two axes
//   text.tick / .label    tick and axis text  .series path + circles, circle.late a late point

export interface PlotPoint {
  x: number;
  /** null: a gap (rt-cloud's cleared value). */
  y: number | null;
  /** Drawn as a hollow point with a ring (a volume that arrived late). */
  late?: boolean;
  /** Tooltip text (default "x: y"). */
  title?: string;
}

export interface PlotOptions {
  width?: number;
  height?: number;
  /** Axis titles, with their units, e.g. 'volume (1 = first)', 'ROI mean (scanner units)'. */
  xLabel: string;
  yLabel: string;
  /** The x range; default 0 (or the smallest x) .. the largest x, at least xMinSpan. */
  xMin?: number;
  xMax?: number;
  /** Smallest x span shown (default 10): a run's first points do not fill the width. */
  xMinSpan?: number;
  /** x values are whole numbers (TRs, volumes): ticks at whole steps. Default true. */
  xInteger?: boolean;
  /** Keep 0 inside the y range (results around 0). Default false: the data's range, padded. */
  yIncludeZero?: boolean;
  /** A horizontal reference line (e.g. the baseline), drawn dashed. */
  yRef?: number;
  ariaLabel?: string;
}

/** A round step near span / n (1, 2 or 5 times a power of ten). */
export function niceStep(span: number, n = 4): number {
  const raw = span / n;
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw * 0.999) ?? raw;
}

/** A tick value as text without float noise (0.30000000000000004 -> 0.3). */
export function tickText(v: number): string {
  const r = Number(v.toPrecision(6));
  return String(Object.is(r, -0) ? 0 : r);
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The plot as an `<svg class="rtplot">` element (viewBox width x height, scales to its box). */
export function linePlot(points: readonly PlotPoint[], o: PlotOptions): string {
  const W = o.width ?? 640, H = o.height ?? 220;
  const L = 56, B = 36, T = 10, R = 12;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y).filter((y): y is number => y !== null && Number.isFinite(y));
  const x0 = o.xMin ?? Math.min(0, ...xs);
  const x1 = Math.max(o.xMax ?? Math.max(x0, ...xs), x0 + (o.xMinSpan ?? 10));
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (o.yIncludeZero) (y0 = Math.min(0, y0)), (y1 = Math.max(0, y1));
  if (o.yRef !== undefined && Number.isFinite(o.yRef)) (y0 = Math.min(o.yRef, y0)), (y1 = Math.max(o.yRef, y1));
  if (!(y1 - y0 > Math.abs(y1) * 1e-9 + 1e-12)) (y0 -= 1), (y1 += 1);
  const pad = (y1 - y0) * 0.08;
  (y0 -= pad), (y1 += pad);
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - B - T);
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  const yStep = niceStep(y1 - y0);
  for (let v = Math.ceil(y0 / yStep) * yStep; v <= y1 + yStep * 1e-9; v += yStep) {
    parts.push(`<line class="grid" x1="${L}" x2="${W - R}" y1="${f(sy(v))}" y2="${f(sy(v))}"/><text class="tick" x="${L - 6}" y="${f(sy(v) + 4)}" text-anchor="end">${tickText(v)}</text>`);
  }
  let xStep = niceStep(x1 - x0, 6);
  if (o.xInteger !== false) xStep = Math.max(1, Math.round(xStep));
  for (let v = Math.ceil(x0 / xStep) * xStep; v <= x1 + xStep * 1e-9; v += xStep) {
    parts.push(`<line class="axis" x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${H - B}" y2="${H - B + 4}"/><text class="tick" x="${f(sx(v))}" y="${H - B + 16}" text-anchor="middle">${tickText(v)}</text>`);
  }
  parts.push(`<line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/><line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>`);
  parts.push(`<text class="label" x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text class="label" x="14" y="${(H - B + T) / 2}" transform="rotate(-90 14 ${(H - B + T) / 2})" text-anchor="middle">${esc(o.yLabel)}</text>`);
  if (o.yRef !== undefined && Number.isFinite(o.yRef)) parts.push(`<line class="ref" x1="${L}" x2="${W - R}" y1="${f(sy(o.yRef))}" y2="${f(sy(o.yRef))}" stroke-dasharray="4 3"/>`);
  // The line breaks at gaps (null values).
  const sorted = [...points].filter((p) => Number.isFinite(p.x)).sort((a, b) => a.x - b.x);
  let d = '';
  let pen = false;
  for (const p of sorted) {
    if (p.y === null || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${f(sx(p.x))},${f(sy(p.y))}`;
    pen = true;
  }
  parts.push(`<path class="series" d="${d}"/>`);
  for (const p of sorted) {
    if (p.y === null || !Number.isFinite(p.y)) continue;
    const t = p.title ?? `${tickText(p.x)}: ${tickText(p.y)}`;
    parts.push(`<circle class="series${p.late ? ' late' : ''}" cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="${p.late ? 4.5 : 3}"><title>${esc(t)}</title></circle>`);
  }
  return `<svg class="rtplot" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(o.ariaLabel ?? o.yLabel)}">${parts.join('')}</svg>`;
}
