/**
 * The hidden states a recurrent op's R (LSTM, GRU, RNN: R [directions, gates·H, H]) multiplied, one
 * row per step and batch entry, for one direction: h_{t−1} at every step t, which is the op's Y
 * output shifted by one step, with initial_h (zeros when absent) at the first step. The forward
 * direction reads initial_h, Y[0], …, Y[T−2]; the reverse one (the second direction of a
 * bidirectional op, or the only one of direction 'reverse') runs from the end and reads initial_h,
 * Y[T−1], …, Y[1]. The order of the rows does not matter to the statistics (sums over rows).
 *
 * Shapes: layout 0: Y [T, D, B, H], initial_h [D, B, H]; layout 1: Y [B, T, D, H], initial_h [B, D, H].
 * @returns rows [(T)·B, H] for direction `d`, row-major.
 */
export function previousHiddenStates(y: Float32Array, yDims: readonly number[], initialH: Float32Array | undefined, layout: 0 | 1, d: number, reverse: boolean): { rows: number; data: Float32Array } {
  const [T, D, B, H] = (layout === 0 ? yDims : [yDims[1], yDims[2], yDims[0], yDims[3]]) as [number, number, number, number];
  const yAt = (t: number, b: number): number => (layout === 0 ? ((t * D + d) * B + b) * H : ((b * T + t) * D + d) * H);
  const hAt = (b: number): number => (layout === 0 ? (d * B + b) * H : (b * D + d) * H);
  const data = new Float32Array(T * B * H);
  let r = 0;
  for (let b = 0; b < B; b++) {
    if (initialH) data.set(initialH.subarray(hAt(b), hAt(b) + H), r * H);
    r++;
  }
  for (let t = 0; t < T - 1; t++) {
    const from = reverse ? t + 1 : t;
    for (let b = 0; b < B; b++, r++) data.set(y.subarray(yAt(from, b), yAt(from, b) + H), r * H);
  }
  return { rows: T * B, data };
}
