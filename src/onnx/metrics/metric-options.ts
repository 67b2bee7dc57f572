import { z } from 'zod';
import { QuantError } from '../../core/errors.js';

/** An output tensor as a custom metric receives it: its values converted to float32, C order. */
export interface MetricTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** Every graph output of one batch, by name (a null-prototype object). */
export type MetricTensors = Readonly<Record<string, MetricTensor>>;

/** Where in the pass a custom metric's call is: batch `index` (0-based) of `count`. */
export interface MetricBatch {
  readonly index: number;
  readonly count: number;
}

/**
 * A metric of one's own: called once per batch with the reference's and the candidate's outputs;
 * returns a number, lower is better (NaN is an error). The comparison's value is the mean over batches.
 */
export type CustomMetricFunction = (reference: MetricTensors, candidate: MetricTensors, batch: MetricBatch) => number | Promise<number>;

/** Names of the built-in metrics, and `custom` for a function passed in. */
export const METRIC_KINDS = ['rel-rms', 'kl', 'ctc', 'accuracy', 'custom'] as const;
export type MetricKind = (typeof METRIC_KINDS)[number];

/** Graph outputs a metric is computed on; default: every output (rel-rms) or every class-score output (kl, ctc, accuracy). */
const outputs = z.array(z.string().min(1)).min(1, { error: 'expected at least one output name' }).optional();

function isLabelArray(v: unknown): v is ArrayLike<number> {
  if (!(Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)))) return false;
  const a = v as ArrayLike<unknown>;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0x7fffffff) return false;
  }
  return true;
}

const MetricSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('rel-rms'), outputs }),
  z.strictObject({ kind: z.literal('kl'), outputs }),
  z.strictObject({
    kind: z.literal('ctc'),
    blank: z.number().int({ error: 'blank must be an integer class index' }).min(0, { error: 'blank must be a class index >= 0' }).default(0),
    outputs,
  }),
  z.strictObject({
    kind: z.literal('accuracy'),
    labels: z
      .custom<ArrayLike<number>>(isLabelArray, { error: 'labels must be an array of class indices (integers >= 0), one per row of the scored output, over every batch in order' })
      .refine((l) => l.length > 0, { error: 'labels must hold at least one class index' })
      .transform((l) => Int32Array.from(l)),
    outputs,
  }),
  z.strictObject({
    kind: z.literal('custom'),
    name: z.string().min(1, { error: 'a custom metric needs a name' }),
    evaluate: z.custom<CustomMetricFunction>((v) => typeof v === 'function', { error: 'a custom metric needs evaluate: (reference, candidate, batch) => number' }),
  }),
]);

/** A metric, validated: what compareModels, analyzeSensitivity and autoPrecision measure with. */
export type MetricSpec = z.output<typeof MetricSchema>;

/** A metric as callers write it: a built-in name alone ('kl'), or an object with its options. */
export type MetricInput = Exclude<MetricKind, 'accuracy' | 'custom'> | z.input<typeof MetricSchema>;

const Schema = z.preprocess((v) => (v === undefined ? { kind: 'rel-rms' } : typeof v === 'string' ? { kind: v } : v), MetricSchema);

/**
 * Validates a metric once, at the library's edge; undefined is rel-rms. Throws INVALID_ARGUMENT
 * naming the field and what was expected (unknown kinds list the known ones).
 */
export function parseMetric(input: MetricInput | undefined): MetricSpec {
  const r = Schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const kind = typeof input === 'string' ? input : (input as { kind?: unknown } | undefined)?.kind;
  if (issue.code === 'invalid_union' && !(METRIC_KINDS as readonly unknown[]).includes(kind)) {
    throw new QuantError('INVALID_ARGUMENT', `unknown metric ${JSON.stringify(kind)}: expected one of ${METRIC_KINDS.join(', ')}`);
  }
  const at = issue.path.length ? `${issue.path.join('.')}: ` : '';
  throw new QuantError('INVALID_ARGUMENT', `metric ${String(kind)}: ${at}${issue.message}`);
}

/** The metric's name as reports print it: the kind, or a custom metric's own name. */
export function metricName(spec: MetricSpec): string {
  return spec.kind === 'custom' ? spec.name : spec.kind;
}
