import { QuantError } from '../core/errors.js';

/**
 * Reads the JSON reports of `quantkit onnx compare --json`, `quantkit onnx sensitivity --json` and
 * `quantkit onnx quantize --auto --json` (src/onnx/analysis/compare-models.ts ModelComparison,
 * sensitivity.ts SensitivityReport, auto-precision.ts AutoPrecisionReport), tolerantly: camelCase
 * or snake_case names, non-finite numbers written as null (the CLI's toJson), unknown fields ignored,
 * and rows found one level down when a report wraps another.
 */

/** A figure a row may carry, how to name it and which way is worse. */
export interface MetricInfo {
  /** `relativeRmsError`, `sqnrDb`, ... or, per precision, `error@int8`, `cosine@int4`. */
  readonly key: string;
  readonly label: string;
  readonly higherIsWorse: boolean;
}

/** Flat per-row figures, by their names in the reports (ModelComparison layers and outputs). */
const FLAT_METRICS: readonly MetricInfo[] = [
  { key: 'relativeRmsError', label: 'relative RMS error', higherIsWorse: true },
  { key: 'error', label: 'error (max relative RMS)', higherIsWorse: true },
  { key: 'maxAbsError', label: 'max |error|', higherIsWorse: true },
  { key: 'meanAbsError', label: 'mean |error|', higherIsWorse: true },
  { key: 'rmsError', label: 'RMS error', higherIsWorse: true },
  { key: 'mse', label: 'MSE', higherIsWorse: true },
  { key: 'sqnrDb', label: 'SQNR (dB)', higherIsWorse: false },
  { key: 'cosine', label: 'cosine similarity', higherIsWorse: false },
];

/** Per-precision figures (sensitivity `results`, auto-precision `isolatedError`). */
const PER_PRECISION = ['error', 'cosine'] as const;

export interface ReportRow {
  readonly name: string;
  readonly opType: string | null;
  /** The precision chosen for this layer (auto-precision), when the report says. */
  readonly precision: string | null;
  /** Figures by MetricInfo key; Infinity where the report wrote null for an unbounded error (SQNR of identical outputs). */
  readonly metrics: Readonly<Record<string, number>>;
  /** Why some precision did not apply, or why this one was chosen. */
  readonly note: string | null;
}

export interface OnnxReport {
  readonly kind: 'compare' | 'sensitivity' | 'auto-precision' | 'report';
  /** The field the rows came from: layers, outputs, ... */
  readonly source: string;
  readonly rows: readonly ReportRow[];
  /** Metrics present on at least one row, the default (drawn first) first. */
  readonly metrics: readonly MetricInfo[];
  /** The report's overall error (compare / auto-precision `error`), when present. */
  readonly overall: number | null;
  /** Layers per chosen precision (auto-precision `counts`, else counted from the rows). */
  readonly counts: Readonly<Record<string, number>>;
}

/** Lower-cased with separators dropped, so max_abs_error, maxAbsError and max-abs-error meet. */
const norm = (key: string) => key.replace(/[_\-\s]/g, '').toLowerCase();

const FLAT_BY_NORM = new Map<string, MetricInfo>(FLAT_METRICS.map((m) => [norm(m.key), m]));
for (const [alias, key] of [['sqnr', 'sqnrDb'], ['maxError', 'maxAbsError'], ['cosineSimilarity', 'cosine'], ['relativeError', 'relativeRmsError']] as const) {
  FLAT_BY_NORM.set(norm(alias), FLAT_METRICS.find((m) => m.key === key)!);
}

const NAME_KEYS = ['node', 'name', 'layer', 'nodeName', 'layerName', 'output', 'tensor'].map(norm);
const OP_KEYS = ['opType', 'op'].map(norm);
const PRECISION_KEYS = ['precision', 'chosen', 'chosenPrecision', 'dtype'].map(norm);
const PER_PRECISION_KEYS = ['results', 'isolatedError', 'errors', 'byPrecision'].map(norm);
const NOTE_KEYS = ['reason', 'note'].map(norm);
/** Where rows live, most specific first (a compare report has layers and outputs: layers win). */
const ROW_KEYS = ['layers', 'perLayer', 'nodes', 'outputs', 'results', 'rows'].map(norm);

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function field(o: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const want of keys) for (const [k, v] of Object.entries(o)) if (norm(k) === want) return v;
  return undefined;
}

/** JSON has no Infinity: the CLI writes non-finite figures as null (null SQNR: identical outputs). */
function metricValue(v: unknown, higherIsWorse: boolean, key: string): number | undefined {
  if (typeof v === 'number') return Number.isNaN(v) ? undefined : v;
  if (v === null) return higherIsWorse || /sqnr/i.test(key) ? Infinity : undefined;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'infinity' || t === 'inf') return Infinity;
    if (t === '-infinity' || t === '-inf') return -Infinity;
    const n = Number(t);
    return t !== '' && Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function perPrecisionInfo(kind: (typeof PER_PRECISION)[number], precision: string): MetricInfo {
  return kind === 'error'
    ? { key: `error@${precision}`, label: `${precision} alone: error (max relative RMS)`, higherIsWorse: true }
    : { key: `cosine@${precision}`, label: `${precision} alone: cosine`, higherIsWorse: false };
}

function readRow(entry: unknown, fallbackName: string, seen: Map<string, MetricInfo>): ReportRow | null {
  if (!isRecord(entry)) return null;
  const rawName = field(entry, NAME_KEYS);
  const name = typeof rawName === 'string' && rawName !== '' ? rawName : fallbackName;
  const metrics: Record<string, number> = {};
  const notes: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    const info = FLAT_BY_NORM.get(norm(k));
    if (info === undefined) continue;
    const n = metricValue(v, info.higherIsWorse, info.key);
    if (n !== undefined) {
      metrics[info.key] = n;
      seen.set(info.key, info);
    }
  }
  const per = field(entry, PER_PRECISION_KEYS);
  if (isRecord(per)) {
    for (const [precision, r] of Object.entries(per)) {
      // auto-precision's isolatedError: { int8: 0.01 }; sensitivity's results: { int8: { status, error, cosine } }.
      const figures: Record<string, unknown> = isRecord(r) ? r : { error: r };
      const status = figures.status;
      if (status === 'not-applicable' || status === 'not_applicable') {
        notes.push(`${precision}: not applicable${typeof figures.reason === 'string' ? ` (${figures.reason})` : ''}`);
        continue;
      }
      for (const kind of PER_PRECISION) {
        if (!(kind in figures)) continue;
        const info = perPrecisionInfo(kind, precision);
        const n = metricValue(figures[kind], info.higherIsWorse, info.key);
        if (n !== undefined) {
          metrics[info.key] = n;
          seen.set(info.key, info);
        }
      }
    }
  }
  const note = field(entry, NOTE_KEYS);
  if (typeof note === 'string' && note !== '') notes.push(note);
  if (Object.keys(metrics).length === 0 && notes.length === 0) return null;
  const op = field(entry, OP_KEYS);
  const precision = field(entry, PRECISION_KEYS);
  return {
    name,
    opType: typeof op === 'string' ? op : null,
    precision: typeof precision === 'string' && precision !== '' ? precision : null,
    metrics,
    note: notes.length ? notes.join('; ') : null,
  };
}

function rowsFrom(value: unknown, seen: Map<string, MetricInfo>): ReportRow[] {
  if (!Array.isArray(value)) return [];
  return value.map((e, i) => readRow(e, `#${i + 1}`, seen)).filter((r): r is ReportRow => r !== null);
}

interface Found {
  rows: ReportRow[];
  source: string;
  container: Record<string, unknown>;
  seen: Map<string, MetricInfo>;
}

function findRows(doc: unknown, depth: number): Found | null {
  if (Array.isArray(doc)) {
    const seen = new Map<string, MetricInfo>();
    const rows = rowsFrom(doc, seen);
    return rows.length > 0 ? { rows, source: 'rows', container: {}, seen } : null;
  }
  if (!isRecord(doc)) return null;
  for (const want of ROW_KEYS) {
    for (const [k, v] of Object.entries(doc)) {
      if (norm(k) !== want) continue;
      const seen = new Map<string, MetricInfo>();
      const rows = rowsFrom(v, seen);
      if (rows.some((r) => Object.keys(r.metrics).length > 0)) return { rows, source: k, container: doc, seen };
    }
  }
  if (depth < 2) {
    for (const v of Object.values(doc)) {
      const inner = findRows(v, depth + 1);
      if (inner !== null) return inner;
    }
  }
  return null;
}

/**
 * Parses a report. Throws MALFORMED_FILE when the text is not JSON or holds no rows of per-layer
 * (or per-output) figures.
 */
export function readOnnxReport(text: string): OnnxReport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new QuantError('MALFORMED_FILE', `expected the JSON of quantkit onnx compare/sensitivity --json, got text that does not parse as JSON (${(e as Error).message})`, { cause: e });
  }
  const found = findRows(doc, 0);
  if (found === null) {
    const keys = isRecord(doc) ? Object.keys(doc).join(', ') || 'none' : Array.isArray(doc) ? 'an array' : typeof doc;
    throw new QuantError(
      'MALFORMED_FILE',
      `expected a report with per-layer figures (rows under layers or outputs carrying relativeRmsError, sqnrDb, maxAbsError, cosine, or per-precision results/isolatedError); got top-level keys: ${keys}`,
    );
  }
  const { rows, source, container, seen } = found;
  const kind = kindOf(container, rows);
  const metrics = orderMetrics(relabelErrors([...seen.values()], field(container, [norm('metric')])), kind, container);
  const overallRaw = field(container, [norm('error')]);
  const overall = typeof overallRaw === 'number' ? overallRaw : overallRaw === null ? Infinity : null;
  return { kind, source, rows, metrics, overall, counts: countsOf(container, rows) };
}

/**
 * The reports' `error` is whatever --metric chose (rel-rms unless `metric` says otherwise): its
 * label names that metric, so a CTC character error rate is not shown as a relative RMS error.
 */
function relabelErrors(metrics: MetricInfo[], metric: unknown): MetricInfo[] {
  if (typeof metric !== 'string' || metric === 'rel-rms' || metric === 'max-relative-rms') return metrics;
  return metrics.map((m) => {
    if (m.key === 'error') return { ...m, label: `error (${metric})` };
    if (m.key.startsWith('error@')) return { ...m, label: `${m.key.slice('error@'.length)} alone: error (${metric})` };
    return m;
  });
}

function kindOf(container: Record<string, unknown>, rows: readonly ReportRow[]): OnnxReport['kind'] {
  if (rows.some((r) => r.precision !== null) || isRecord(field(container, [norm('counts')]))) return 'auto-precision';
  if (Array.isArray(field(container, [norm('precisions')])) || rows.some((r) => Object.keys(r.metrics).some((k) => k.includes('@')))) return 'sensitivity';
  if (rows.some((r) => 'relativeRmsError' in r.metrics || 'sqnrDb' in r.metrics)) return 'compare';
  return 'report';
}

/** compare: relative RMS first (what compare ranks by); sensitivity: the first precision's error (its ranking); then the rest. */
function orderMetrics(metrics: MetricInfo[], kind: OnnxReport['kind'], container: Record<string, unknown>): MetricInfo[] {
  const precisions = field(container, [norm('precisions')]);
  const order = (m: MetricInfo): number => {
    const at = m.key.indexOf('@');
    if (at >= 0) {
      const p = m.key.slice(at + 1);
      const rank = Array.isArray(precisions) ? precisions.indexOf(p) : -1;
      return (m.key.startsWith('error') ? 0 : 50) + (rank < 0 ? 40 : rank);
    }
    const flat = FLAT_METRICS.findIndex((f) => f.key === m.key);
    return (kind === 'compare' ? 0 : 100) + flat;
  };
  return metrics.sort((a, b) => order(a) - order(b) || a.key.localeCompare(b.key));
}

function countsOf(container: Record<string, unknown>, rows: readonly ReportRow[]): Record<string, number> {
  const declared = field(container, [norm('counts')]);
  const out: Record<string, number> = {};
  if (isRecord(declared)) {
    for (const [p, n] of Object.entries(declared)) if (typeof n === 'number') out[p] = n;
    return out;
  }
  for (const r of rows) if (r.precision !== null) out[r.precision] = (out[r.precision] ?? 0) + 1;
  return out;
}

/** Rows worst first by `metric` (rows without it last, ties by name). */
export function sortRows(rows: readonly ReportRow[], metric: MetricInfo): ReportRow[] {
  const sign = metric.higherIsWorse ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = a.metrics[metric.key];
    const y = b.metrics[metric.key];
    if (x === undefined || y === undefined) return x === undefined ? (y === undefined ? a.name.localeCompare(b.name) : 1) : -1;
    return x === y ? a.name.localeCompare(b.name) : sign * (x - y);
  });
}
