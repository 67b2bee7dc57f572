import { encodeParamsFile } from '../formats/params-file.js';
import type { NpyCalibration, ParameterCalibration } from '../node/npy/calibrate-npy-files.js';
import { db, histogramLines, num, textTable } from './format-figures.js';
import type { CliObserver } from './quant-options.js';

/** Up to this many parameters the text report lists each; past it, it summarises them. */
export const LISTED_PARAMETERS = 16;

/** What the report says about the run besides the measures. */
export interface CalibrationRun {
  readonly observer: CliObserver;
  /** Absent when the run writes no parameters file (the report alone). */
  readonly paramsOut?: string;
}

/**
 * The human report of `quantkit calibrate`: the scheme, then per parameter (or, past
 * LISTED_PARAMETERS, min / median / max over the parameters and the worst by SQNR) the range
 * chosen, scale, zero point, clipped fraction, MSE and SQNR, the totals, and a histogram of the
 * data with the rows the range clips marked.
 */
export function formatCalibration(r: NpyCalibration, run: CalibrationRun): string {
  const p = r.params;
  const granularity =
    p.granularity.kind === 'per-tensor' ? 'per-tensor' : p.granularity.kind === 'per-axis' ? `per-channel along axis ${p.granularity.axis}` : `per-block of ${p.granularity.blockSize} along axis ${p.granularity.axis}`;
  const lines = [
    `observer    ${describeObserver(run.observer)}`,
    `scheme      ${p.dtype} [${p.qmin}, ${p.qmax}], ${p.symmetric ? 'symmetric' : 'asymmetric'}${p.narrow ? ', narrow' : ''}, ${granularity}`,
    `batches     ${r.files.map((f) => `${f.path} [${f.shape.join(', ')}]`).join(', ')}`,
    `elements    ${r.total.count}`,
    `parameters  ${p.scale.length} (shape [${p.paramShape.join(', ')}]) ${run.paramsOut === undefined ? 'not written (no --params-out)' : `written to ${run.paramsOut}`}`,
    '',
  ];
  if (r.parameters.length === 1) {
    const q = r.parameters[0];
    lines.push(
      `range       [${num(q.rangeMin)}, ${num(q.rangeMax)}] (observed [${num(q.observedMin)}, ${num(q.observedMax)}])`,
      `scale       ${num(q.scale)}`,
      `zero_point  ${q.zeroPoint}`,
    );
  } else if (r.parameters.length <= LISTED_PARAMETERS) {
    lines.push(...textTable(
      ['param', 'range', 'observed', 'scale', 'zero_point', 'clipped', 'MSE', 'SQNR (dB)'],
      r.parameters.map((q, k) => [String(k), `[${num(q.rangeMin)}, ${num(q.rangeMax)}]`, `[${num(q.observedMin)}, ${num(q.observedMax)}]`, num(q.scale), String(q.zeroPoint), pct(q.clipped, q.count), num(q.mse), db(q.sqnrDb)]),
    ), '');
  } else {
    lines.push(`over the ${r.parameters.length} parameters`, ...summary(r.parameters), '');
  }
  lines.push(
    `clipped     ${pct(r.total.clipped, r.total.count)} (${r.total.clipped} of ${r.total.count})`,
    `MSE         ${num(r.total.mse)}`,
    `SQNR        ${db(r.total.sqnrDb)}${Number.isFinite(r.total.sqnrDb) ? ' dB' : ''}`,
    '',
    ...histogram(r),
  );
  return `${lines.join('\n')}\n`;
}

/** The machine report (`calibrate --json`); JSON has no Infinity or NaN, so sqnr_db is then null. */
export function calibrationJson(r: NpyCalibration, run: CalibrationRun): Record<string, unknown> {
  const pct = run.observer.choice.options?.maxPercentile;
  return {
    observer: run.observer.cliName,
    ...(pct !== undefined ? { percentile: pct } : {}),
    params_out: run.paramsOut ?? null,
    params: encodeParamsFile(r.params),
    files: r.files.map((f) => ({ path: f.path, shape: f.shape })),
    total: {
      count: r.total.count,
      observed_min: r.total.observedMin,
      observed_max: r.total.observedMax,
      clipped: r.total.clipped,
      clipped_fraction: fraction(r.total.clipped, r.total.count),
      mse: r.total.mse,
      sqnr_db: finite(r.total.sqnrDb),
    },
    parameters: r.parameters.map((q) => ({
      range_min: q.rangeMin,
      range_max: q.rangeMax,
      observed_min: q.observedMin,
      observed_max: q.observedMax,
      scale: q.scale,
      zero_point: q.zeroPoint,
      count: q.count,
      clipped: q.clipped,
      clipped_fraction: fraction(q.clipped, q.count),
      mse: q.mse,
      sqnr_db: finite(q.sqnrDb),
    })),
    histogram: { edges: r.histogram.edges, counts: r.histogram.counts },
  };
}

function describeObserver(o: CliObserver): string {
  const registry = o.choice.name === o.cliName ? '' : ` (${o.choice.name})`;
  const pct = o.choice.options?.maxPercentile;
  return `${o.cliName}${registry}${pct !== undefined ? `, percentiles ${num(100 - Number(pct))} and ${num(Number(pct))}` : ''}`;
}

function summary(ps: readonly ParameterCalibration[]): string[] {
  const stat = (f: (q: ParameterCalibration) => number, show: (v: number) => string) => {
    const v = ps.map(f).sort((a, b) => a - b);
    return [show(v[0]), show(v[Math.floor((v.length - 1) / 2)]), show(v[v.length - 1])];
  };
  const rows = [
    ['scale', ...stat((q) => q.scale, num)],
    ['zero_point', ...stat((q) => q.zeroPoint, String)],
    ['clipped', ...stat((q) => fraction(q.clipped, q.count), (v) => `${(v * 100).toFixed(3)}%`)],
    ['MSE', ...stat((q) => q.mse, num)],
    ['SQNR (dB)', ...stat((q) => (Number.isNaN(q.sqnrDb) ? Infinity : q.sqnrDb), db)],
  ];
  const worst = ps
    .map((q, k) => ({ k, s: Number.isNaN(q.sqnrDb) ? Infinity : q.sqnrDb }))
    .sort((a, b) => a.s - b.s)
    .slice(0, 3)
    .map(({ k }) => `${k} (${db(ps[k].sqnrDb)} dB, range [${num(ps[k].rangeMin)}, ${num(ps[k].rangeMax)}])`);
  return [...textTable(['', 'min', 'median', 'max'], rows), `  lowest SQNR: ${worst.join(', ')}`];
}

function histogram(r: NpyCalibration): string[] {
  const { edges, counts } = r.histogram;
  const single = r.parameters.length === 1 ? r.parameters[0] : undefined;
  const lines = [`histogram of the data (${counts.length} bins)${single ? ", '<' and '>' mark bins partly or wholly outside the range" : ''}`];
  lines.push(...histogramLines(edges, counts, single ? (k) => (edges[k] < single.rangeMin ? '<' : edges[k + 1] > single.rangeMax ? '>' : ' ') : undefined));
  return lines;
}

function fraction(part: number, whole: number): number {
  return whole ? part / whole : 0;
}

function pct(part: number, whole: number): string {
  return `${(fraction(part, whole) * 100).toFixed(3)}%`;
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
