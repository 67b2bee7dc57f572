// Numbers and histograms in the text reports of inspect and calibrate (one format for both).

const BAR_WIDTH = 40;

/** A value with 6 significant digits, or in exponent form outside [1e-3, 1e6). */
export function num(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? String(Number(v.toPrecision(6))) : v.toExponential(4);
}

/** An SQNR in dB: infinite when the quantization is exact, NaN when the signal is all zero. */
export function db(v: number): string {
  if (v === Infinity) return 'inf (exact)';
  if (Number.isNaN(v)) return 'n/a (all zero)';
  return v.toFixed(2);
}

/**
 * One line per bin, `[lo, hi)  ####  count`, bars scaled to the fullest bin (a non-empty bin
 * too small for one '#' shows '.'); `mark(k)` puts one character before bin k's label.
 */
export function histogramLines(edges: readonly number[], counts: readonly number[], mark: (k: number) => string = () => ''): string[] {
  const peak = Math.max(1, ...counts);
  const labels = counts.map((_, k) => `[${num(edges[k])}, ${num(edges[k + 1])}${k === counts.length - 1 ? ']' : ')'}`);
  const width = Math.max(...labels.map((l) => l.length));
  return counts.map((c, k) => {
    const bar = '#'.repeat(Math.round((c / peak) * BAR_WIDTH)) || (c > 0 ? '.' : '');
    return `  ${mark(k)}${labels[k].padEnd(width)}  ${bar.padEnd(BAR_WIDTH)}  ${c}`;
  });
}

/** A header and rows as indented, left-aligned columns, one line each. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  return all.map((row) => `  ${row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()}`);
}
