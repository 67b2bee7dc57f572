import { z } from 'zod';
import { BUILT_IN_METRICS, METRIC_MODULE } from './metric-flags.js';

/**
 * --metric, --blank, --labels, --metric-output: the zod shape every command that measures extends.
 * Apart from metric-flags.ts, which the commands' help reads: zod loads when a command runs.
 */
export const metricFlagShape = {
  metric: z
    .string()
    .refine((s) => (BUILT_IN_METRICS as readonly string[]).includes(s) || METRIC_MODULE.test(s), {
      error: (i) => `--metric expects ${BUILT_IN_METRICS.join(', ')} or a path to a .mjs module, got '${String(i.input)}'`,
    })
    .optional(),
  blank: z
    .string()
    .regex(/^\d+$/, { error: (i) => `--blank expects a class index (an integer >= 0), got '${String(i.input)}'` })
    .transform(Number)
    .optional(),
  labels: z.string().min(1, { error: '--labels needs a .npy path' }).optional(),
  metricOutput: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .refine((l) => l.length > 0, { error: '--metric-output expects a comma-separated list of output names' })
    .optional(),
};
