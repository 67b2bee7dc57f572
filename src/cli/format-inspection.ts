import type { NpyInspection } from '../node/inspect-npy-file.js';

const BAR_WIDTH = 40;

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
  const peak = Math.max(1, ...r.histogram.counts);
  const { edges, counts } = r.histogram;
  const labels = counts.map((_, k) => `[${num(edges[k])}, ${num(edges[k + 1])}${k === counts.length - 1 ? ']' : ')'}`);
  const labelWidth = Math.max(...labels.map((l) => l.length));
  counts.forEach((c, k) => {
    const bar = '#'.repeat(Math.round((c / peak) * BAR_WIDTH)) || (c > 0 ? '.' : '');
    lines.push(`  ${labels[k].padEnd(labelWidth)}  ${bar.padEnd(BAR_WIDTH)}  ${c}`);
  });
  lines.push('', 'quantization error (per-tensor, asymmetric)');
  const rows = [['dtype', 'scale', 'zero_point', 'MSE', 'SQNR (dB)']];
  for (const e of r.errors) rows.push([e.dtype, num(e.scale), String(e.zeroPoint), num(e.mse), db(e.sqnrDb)]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) lines.push(`  ${row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()}`);
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

function num(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? String(Number(v.toPrecision(6))) : v.toExponential(4);
}

function db(v: number): string {
  if (v === Infinity) return 'inf (exact)';
  if (Number.isNaN(v)) return 'n/a (all zero)';
  return v.toFixed(2);
}
