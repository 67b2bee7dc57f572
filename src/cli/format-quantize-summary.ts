import type { QParams } from '../core/qparams.js';
import { num } from './format-figures.js';

/** What one `.npy` quantize did, for its summary line. */
export interface QuantizeSummary {
  readonly input: string;
  readonly output: string;
  readonly shape: readonly number[];
  /** The input's dtype as its header names it (float32, float16, int16, ...). */
  readonly inputDtype: string;
  readonly params: QParams;
  readonly packed: boolean;
  readonly seconds: number;
}

/**
 * The one line a successful `.npy` quantize prints on stderr (stdout stays free for data), e.g.
 * `quantkit: w.npy [64, 32] float32 -> w.q.npy int8 per-channel (axis 0, 64 scales): scale 0.00102..0.0311, zero point -3..4, in 0.02 s`.
 */
export function formatQuantizeSummary(s: QuantizeSummary): string {
  const p = s.params;
  const g = p.granularity;
  const n = p.scale.length;
  const scheme =
    g.kind === 'per-tensor' ? 'per-tensor' : g.kind === 'per-axis' ? `per-channel (axis ${g.axis}, ${n} scales)` : `per-block (${g.blockSize} along axis ${g.axis}, ${n} scales)`;
  const shape = `[${s.shape.join(', ')}]`;
  const codes = `${p.dtype}${p.symmetric ? ' symmetric' : ''}${p.narrow ? ' narrow' : ''}${s.packed ? ' packed' : ''}`;
  return `quantkit: ${s.input} ${shape} ${s.inputDtype} -> ${s.output} ${codes} ${scheme}: scale ${span(p.scale, num)}, zero point ${span(p.zeroPoint, String)}, in ${s.seconds.toFixed(2)} s\n`;
}

/** One value, or the smallest..largest of many. */
function span(values: ArrayLike<number>, show: (v: number) => string): string {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (values.length === 0) return 'none';
  return lo === hi ? show(lo) : `${show(lo)}..${show(hi)}`;
}
