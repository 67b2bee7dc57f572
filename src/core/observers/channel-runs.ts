import type { BlockLayout } from '../layout.js';

/**
 * Visits a batch as contiguous runs of one channel each, so per-channel statistics can use the
 * same contiguous kernels as per-tensor ones: fn(channel, run). Per-tensor, the run is the whole
 * batch. When channels are the innermost dimension (axis -1) the values of a channel are strided,
 * so each channel is first gathered into `scratch` (grown and reused): the run is only valid
 * during the call.
 */
export function forEachChannelRun(
  x: Float32Array,
  layout: BlockLayout,
  fn: (channel: number, run: Float32Array) => void,
  scratch: { buffer: Float32Array },
): void {
  if (layout.paramCount === 1) {
    fn(0, x);
    return;
  }
  const inner = layout.inner;
  if (!layout.varyInner) {
    const rows = x.length / inner;
    for (let r = 0; r < rows; r++) fn(r % layout.axisLen, x.subarray(r * inner, (r + 1) * inner));
    return;
  }
  const channels = inner;
  const rows = x.length / channels;
  if (scratch.buffer.length < rows) scratch.buffer = new Float32Array(rows);
  const run = scratch.buffer.subarray(0, rows);
  for (let c = 0; c < channels; c++) {
    for (let r = 0, g = c; r < rows; r++, g += channels) run[r] = x[g];
    fn(c, run);
  }
}
