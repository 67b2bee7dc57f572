// Figures, aligned tables and JSON for the `onnx` reports (compare, sensitivity, quantize --auto).

/** A figure for the table: a few significant digits, 'inf' for infinities, '-' when absent. */
export function fmt(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined) return '-';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return '0';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
}

const NUMERIC = /^(-?[0-9.]+(e[-+]?\d+)?|-|inf|-inf|n\/a)$/;

/** Rows as aligned columns (the first row is the header): columns of figures to the right, text to the left. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const numeric = rows[0]!.map((_, c) => rows.slice(1).every((r) => NUMERIC.test(r[c]!)));
  return rows.map((r) => r.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

/** JSON.stringify with non-finite numbers as null (documented: null SQNR means identical outputs). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
