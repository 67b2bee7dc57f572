import { z } from 'zod';
import type { MetricInput } from '../onnx/metrics/metric-options.js';
import type { LayerQuantOptions, QuantizedPrecision } from '../onnx/analysis/sensitivity-layers.js';
import type { CliIo } from './cli-io.js';
import { metricFlagShape } from './metric-flag-schema.js';
import { checkMetricFlags, metricFromFlags } from './metric-flags.js';
import { onnxFlags, warningLine } from './onnx-flags.js';

const PRECISIONS = ['int8', 'int4'] as const;

/** Options shared by `onnx sensitivity` and `onnx quantize --auto`: how layers are quantized when measured. */
export const LayerOptions = z.object({
  inputs: z.string().min(1).optional(),
  precisions: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .refine((l) => l.length > 0 && l.every((p) => (PRECISIONS as readonly string[]).includes(p)), { error: `--precisions expects a comma-separated list of ${PRECISIONS.join(', ')}` })
    .transform((l) => [...new Set(l)] as QuantizedPrecision[])
    .optional(),
  perChannel: z.boolean().optional(),
  symmetric: z.boolean().optional(),
  blockSize: onnxFlags.blockSize,
  opTypes: onnxFlags.opTypes,
  exclude: onnxFlags.exclude,
  json: z.boolean().optional(),
  ...metricFlagShape,
});

/** The metric flags checked (usage errors first), then mapped to the library's metric (a module loaded, labels read). */
export async function layerMetric(o: z.infer<typeof LayerOptions>): Promise<{ metric?: MetricInput }> {
  checkMetricFlags(o);
  const metric = await metricFromFlags(o);
  return metric !== undefined ? { metric } : {};
}

export function layerQuantOptions(o: z.infer<typeof LayerOptions>): LayerQuantOptions & { precisions?: readonly QuantizedPrecision[] } {
  return {
    ...(o.precisions !== undefined && { precisions: o.precisions }),
    ...(o.perChannel !== undefined && { perChannel: o.perChannel }),
    ...(o.blockSize !== undefined && { blockSize: o.blockSize }),
    ...(o.symmetric !== undefined && { symmetric: o.symmetric }),
    ...(o.opTypes !== undefined && { opTypes: o.opTypes }),
    ...(o.exclude !== undefined && { exclude: o.exclude }),
  };
}

export function warnGenerated(io: CliIo, source: string): void {
  if (source === 'generated') io.stderr.write(warningLine('no --inputs: errors measured on inputs generated from the input specs (uniform in [-1, 1)), which may not resemble real data'));
}
