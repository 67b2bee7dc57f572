import { describe, expect, it } from 'vitest';
import { previousHiddenStates } from './previous-hidden-states.js';

// Y [T=3, D=2, B=2, H=2] whose every value encodes where it is: 1000·t + 100·d + 10·b + h.
const T = 3;
const D = 2;
const B = 2;
const H = 2;
const code = (t: number, d: number, b: number, h: number): number => 1000 * t + 100 * d + 10 * b + h;
const y0 = Float32Array.from({ length: T * D * B * H }, (_, i) => code(Math.floor(i / (D * B * H)), Math.floor(i / (B * H)) % D, Math.floor(i / H) % B, i % H));
const h0 = Float32Array.from({ length: D * B * H }, (_, i) => -(100 * Math.floor(i / (B * H)) + 10 * (Math.floor(i / H) % B) + (i % H)) - 1);

describe('previousHiddenStates', () => {
  it('forward reads initial_h then Y[0..T-2]; reverse reads initial_h then Y[T-1..1]', () => {
    const f = previousHiddenStates(y0, [T, D, B, H], h0, 0, 0, false);
    expect(f.rows).toBe(T * B);
    expect(Array.from(f.data)).toEqual([-1, -2, -11, -12, code(0, 0, 0, 0), code(0, 0, 0, 1), code(0, 0, 1, 0), code(0, 0, 1, 1), code(1, 0, 0, 0), code(1, 0, 0, 1), code(1, 0, 1, 0), code(1, 0, 1, 1)]);
    const r = previousHiddenStates(y0, [T, D, B, H], h0, 0, 1, true);
    expect(Array.from(r.data)).toEqual([-101, -102, -111, -112, code(1, 1, 0, 0), code(1, 1, 0, 1), code(1, 1, 1, 0), code(1, 1, 1, 1), code(2, 1, 0, 0), code(2, 1, 0, 1), code(2, 1, 1, 0), code(2, 1, 1, 1)]);
  });

  it('layout 1 (Y [B, T, D, H], initial_h [B, D, H]) gives the rows layout 0 gives', () => {
    const y1 = new Float32Array(y0.length);
    const h1 = new Float32Array(h0.length);
    for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) y1[((b * T + t) * D + d) * H + h] = y0[((t * D + d) * B + b) * H + h]!;
    for (let d = 0; d < D; d++) for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) h1[(b * D + d) * H + h] = h0[(d * B + b) * H + h]!;
    for (const [d, reverse] of [[0, false], [1, true]] as const) {
      expect(previousHiddenStates(y1, [B, T, D, H], h1, 1, d, reverse).data).toEqual(previousHiddenStates(y0, [T, D, B, H], h0, 0, d, reverse).data);
    }
  });

  it('zeros stand for an absent initial_h', () => {
    expect(Array.from(previousHiddenStates(y0, [T, D, B, H], undefined, 0, 0, false).data.subarray(0, B * H))).toEqual([0, 0, 0, 0]);
  });
});
