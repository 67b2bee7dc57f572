import uPlot from 'uplot';
import type { Histogram } from './histogram.js';
import { formatNumber } from './format-number.js';

/** Colours with at least 4.5:1 against the white chart background (WCAG AA for text-sized marks). */
export const CHART_COLORS = {
  bars: '#1f5fa8',
  tails: 'rgba(196, 40, 40, 0.16)',
  rangeEdge: '#a8201a',
  grid: 'rgba(20, 110, 60, 0.55)',
  axis: '#1d1d1d',
} as const;

const PRECISION_COLORS = ['#1f5fa8', '#a8201a', '#146e3c', '#7a3e9d', '#8a5a00', '#3b3b3b'];

export interface HistogramOverlay {
  /** The quantization range [min, max]: values outside it clip, so the tails are shaded. */
  readonly range?: readonly [number, number];
  /** Values the codes dequantize to, drawn as vertical lines (thinned when closer than 3 px). */
  readonly grid?: readonly number[];
  /**
   * 'log': the count axis in powers of ten, so a tail of a few outliers shows beside a peak of
   * thousands (empty bins are left out: a logarithm has no zero). Default 'linear'.
   */
  readonly countScale?: 'linear' | 'log';
}

/** Keeps a chart as wide as its container. */
function fitWidth(chart: uPlot, container: HTMLElement, height: number): void {
  const ro = new ResizeObserver(() => {
    const w = Math.max(240, container.clientWidth);
    if (Math.abs(w - chart.width) > 1) chart.setSize({ width: w, height });
  });
  ro.observe(container);
  chart.hooks.destroy = [...(chart.hooks.destroy ?? []), () => ro.disconnect()];
}

/**
 * A histogram as bars over the bin centres, with the clipped tails shaded and the quantization
 * grid drawn over it through uPlot's draw hook. `container` gets the chart; the caller gives it an
 * accessible name and a table alternative.
 */
export function histogramChart(container: HTMLElement, hist: Histogram, overlay: HistogramOverlay = {}, height = 280): uPlot {
  const bins = hist.counts.length;
  const centres = new Float64Array(bins);
  for (let i = 0; i < bins; i++) centres[i] = (hist.edges[i] + hist.edges[i + 1]) / 2;
  let xMin = hist.lo;
  let xMax = hist.hi;
  if (overlay.range) {
    xMin = Math.min(xMin, overlay.range[0]);
    xMax = Math.max(xMax, overlay.range[1]);
  }
  const pad = (xMax - xMin) * 0.02 || 1;
  const log = overlay.countScale === 'log';
  let peak = 1;
  for (const c of hist.counts) if (c > peak) peak = c;
  const shown: number[] = [];
  const drawOverlay = (u: uPlot) => {
    const ctx = u.ctx;
    const { top, height: h, left, width: w } = u.bbox;
    const px = (v: number) => u.valToPos(v, 'x', true);
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, w, h);
    ctx.clip();
    if (overlay.range) {
      const [lo, hi] = overlay.range;
      ctx.fillStyle = CHART_COLORS.tails;
      ctx.fillRect(left, top, px(lo) - left, h);
      ctx.fillRect(px(hi), top, left + w - px(hi), h);
      ctx.strokeStyle = CHART_COLORS.rangeEdge;
      ctx.lineWidth = 2 * uPlot.pxRatio;
      for (const v of [lo, hi]) {
        ctx.beginPath();
        ctx.moveTo(px(v), top);
        ctx.lineTo(px(v), top + h);
        ctx.stroke();
      }
    }
    if (overlay.grid && overlay.grid.length > 0) {
      ctx.strokeStyle = CHART_COLORS.grid;
      ctx.lineWidth = uPlot.pxRatio;
      const minGap = 3 * uPlot.pxRatio;
      let last = -Infinity;
      shown.length = 0;
      ctx.beginPath();
      for (const g of overlay.grid) {
        const x = px(g);
        if (x - last < minGap) continue;
        last = x;
        shown.push(g);
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + h);
      }
      ctx.setLineDash([2 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
      ctx.stroke();
    }
    ctx.restore();
  };
  const opts: uPlot.Options = {
    width: Math.max(240, container.clientWidth),
    height,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: false, range: () => [xMin - pad, xMax + pad] },
      // A bar of count 1 stands on the axis floor (0.5), so a single outlier still shows.
      y: log ? { distr: 3, log: 10, range: () => [0.5, 10 ** Math.ceil(Math.log10(peak * 1.05))] } : { range: (_u, _lo, hi) => [0, hi * 1.05 || 1] },
    },
    axes: [
      { stroke: CHART_COLORS.axis, label: 'value', values: (_u, ticks) => ticks.map((t) => formatNumber(t, 3)) },
      { stroke: CHART_COLORS.axis, label: log ? 'count (log scale)' : 'count', values: (_u, ticks) => ticks.map((t) => formatNumber(t, 3)), size: 60 },
    ],
    series: [
      {},
      { label: 'count', fill: CHART_COLORS.bars, stroke: CHART_COLORS.bars, paths: uPlot.paths.bars!({ size: [1, Infinity], align: 0 }), points: { show: false }, ...(log && { fillTo: () => 0.5 }) },
    ],
    hooks: { draw: [drawOverlay] },
  };
  const counts = log ? Array.from(hist.counts, (c) => (c > 0 ? c : null)) : Array.from(hist.counts);
  const chart = new uPlot(opts, [Array.from(centres), counts], container);
  fitWidth(chart, container, height);
  return chart;
}

function shorten(name: string): string {
  return name.length <= 14 ? name : `${name.slice(0, 6)}…${name.slice(-6)}`;
}

export interface BarEntry {
  readonly label: string;
  readonly value: number;
  /** Bars of one group share a colour (a layer's chosen precision). */
  readonly group: string | null;
}

/**
 * Bars in the order given (the caller sorts them worst first), labelled by name when few and by
 * rank when many (the table beside lists every name), coloured by group.
 * Infinite values are drawn at the largest finite one and flagged in the table.
 */
export function barChart(container: HTMLElement, entries: readonly BarEntry[], valueLabel: string, height = 300): { chart: uPlot; colors: Map<string, string> } {
  const finite = entries.map((e) => e.value).filter(Number.isFinite);
  const cap = finite.length ? Math.max(...finite.map(Math.abs)) : 1;
  const ys = entries.map((e) => (Number.isFinite(e.value) ? e.value : Math.sign(e.value) * cap));
  const colors = new Map<string, string>();
  for (const e of entries) if (e.group !== null && !colors.has(e.group)) colors.set(e.group, PRECISION_COLORS[colors.size % PRECISION_COLORS.length]);
  const groups = [...new Set(entries.map((e) => e.group))];
  const lo = Math.min(0, ...ys);
  const hi = Math.max(0, ...ys);
  const opts: uPlot.Options = {
    width: Math.max(240, container.clientWidth),
    height,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false, range: () => [-0.5, entries.length - 0.5] }, y: { range: () => [lo * 1.05, hi * 1.05 || 1] } },
    axes: [
      // Names fit under the bars of a short report; a long one is labelled by rank (names are in the table).
      entries.length <= 16
        ? { stroke: CHART_COLORS.axis, label: 'worst first', grid: { show: false }, splits: () => entries.map((_, i) => i), values: (_u, ticks) => ticks.map((t) => shorten(entries[t]?.label ?? '')) }
        : { stroke: CHART_COLORS.axis, label: 'layer rank (worst first)', grid: { show: false }, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t + 1) : '')) },
      { stroke: CHART_COLORS.axis, label: valueLabel, values: (_u, ticks) => ticks.map((t) => formatNumber(t, 3)), size: 70 },
    ],
    // One series per group (null elsewhere), so each precision gets its own fill.
    series: [{}, ...groups.map((g) => ({ label: g ?? valueLabel, fill: g === null ? CHART_COLORS.bars : colors.get(g)!, stroke: g === null ? CHART_COLORS.bars : colors.get(g)!, points: { show: false }, paths: uPlot.paths.bars!({ size: [0.8, 60], align: 0 }) }))],
  };
  const columns = groups.map((g) => entries.map((e, i) => (e.group === g ? ys[i] : null)));
  const chart = new uPlot(opts, [entries.map((_, i) => i), ...columns], container);
  fitWidth(chart, container, height);
  return { chart, colors };
}
