import { describe, expect, it } from 'vitest';
import { meanMaskIou, resizeBilinear, toInput } from '../../scripts/real-models/isnet.mjs';

describe('IS-Net preprocessing as imgly does it', () => {
  it('samples at x · w/size with its edge clamping and 8-bit rounding', () => {
    // One channel pattern repeated on R, G, B: a 2 × 1 image [0, 100] to 4 × 4: x · 0.5 → 0, 0.5, 1, 1.5 (clamped to 1).
    const rgb = Uint8Array.from([0, 0, 0, 100, 100, 100]);
    const out = resizeBilinear(rgb, 2, 1, 4);
    const row = [0, 50, 100, 100];
    expect(Array.from(out.filter((_, i) => i % 3 === 0))).toEqual([...row, ...row, ...row, ...row]);
    // 3 × 1 → 2: x · 1.5 = 0, 1.5 → the mean of samples 1 and 2, rounded half up (Math.round).
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 0, 0, 1, 1, 1, 2, 2, 2]), 3, 1, 2).filter((_, i) => i % 3 === 0))).toEqual([0, 2, 0, 2]);
  });

  it('normalises to (v − 128) / 256 in channel planes', () => {
    expect(Array.from(toInput(Uint8Array.from([0, 128, 255]), 1))).toEqual([-0.5, 0, 127 / 256]);
  });
});

describe('meanMaskIou', () => {
  it('averages the per-image IoU of the > 0.5 masks; two empty masks agree', () => {
    const reference = [0.9, 0.9, 0.1, 0.1, /* image 2 */ 0, 0, 0, 0];
    const probs = [0.9, 0.2, 0.7, 0.1, /* image 2 */ 0.4, 0.5, 0, 0];
    expect(meanMaskIou(probs, reference, 4)).toBeCloseTo((1 / 3 + 1) / 2, 12);
    expect(meanMaskIou(reference, reference, 4)).toBe(1);
  });
});
