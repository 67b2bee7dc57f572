import type { NpyInspection } from '../node/npy/inspect-npy-file.js';
import { db, histogramLines, num, textTable } from './format-figures.js';

/** The human report of `quantkit inspect`: summary, histogram with bars, and the error table. */
export function formatInspection(file: string, r: NpyInspection): string {
  const lines = [
    `file      ${file}`,
    `shape     [${r.shape.join(', ')}]`,
    `dtype     ${r.dtype}`,
    `elements  ${r.size}`,
    `range     [${num(r.min)}, ${num(r.max)}]`,
    `mean      ${num(r.mean)}`,
    `std       ${num(r.std)}`,
    '',
    `histogram (${r.histogram.counts.length} bins)`,
  ];
  lines.push(...histogramLines(r.histogram.edges, r.histogram.counts));
  lines.push('', 'quantization error (per-tensor, asymmetric)');
  lines.push(...textTable(['dtype', 'scale', 'zero_point', 'MSE', 'SQNR (dB)'], r.errors.map((e) => [e.dtype, num(e.scale), String(e.zeroPoint), num(e.mse), db(e.sqnrDb)])));
  return `${lines.join('\n')}\n`;
}

/** The machine report (`inspect --json`): JSON has no Infinity or NaN, so SQNR is null when undefined or infinite. */
export function inspectionJson(file: string, r: NpyInspection): Record<string, unknown> {
  return {
    file,
    shape: r.shape,
    dtype: r.dtype,
    size: r.size,
    min: r.min,
    max: r.max,
    mean: r.mean,
    std: r.std,
    histogram: { edges: r.histogram.edges, counts: r.histogram.counts },
    errors: r.errors.map((e) => ({
      dtype: e.dtype,
      granularity: 'per_tensor',
      symmetric: false,
      scale: e.scale,
      zero_point: e.zeroPoint,
      mse: e.mse,
      sqnr_db: Number.isFinite(e.sqnrDb) ? e.sqnrDb : null,
    })),
  };
}
