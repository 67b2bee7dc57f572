import { describe, expect, it } from 'vitest';
import { HESSIAN_ROWS, addRows, createLayerStats, stratifiedRows } from './layer-stats.js';
import { relRms } from '../../../../test/helpers/rel-rms.js';

/** 2/N·XᵀX over every row, the Hessian the sampled one stands for. */
function fullHessian(data: Float32Array, rows: number, cols: number): Float64Array {
  const h = new Float64Array(cols * cols);
  for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) h[i * cols + j] += (2 / rows) * data[r * cols + i]! * data[r * cols + j]!;
  return h;
}

describe('stratifiedRows', () => {
  it('draws one row from each stratum, in order, repeatably', () => {
    const picks = stratifiedRows(1000, 64, 7);
    const step = 1000 / 64;
    picks.forEach((p, t) => {
      expect(p).toBeGreaterThanOrEqual(Math.floor(t * step));
      expect(p).toBeLessThan(Math.ceil((t + 1) * step));
    });
    expect([...stratifiedRows(1000, 64, 7)]).toEqual([...picks]);
    expect([...stratifiedRows(1000, 64, 8)]).not.toEqual([...picks]);
  });
});

describe('addRows', () => {
  // A 512 × 512 Conv input's rows are row-major over the image: with a stride of 64, every pick of
  // a fixed stride lands in image columns 0, 64, …, 448. Here those columns carry a strong second
  // channel; a strided Hessian sees it in every row, the image has it in 1 of 64 columns.
  it('samples a large input so that its Hessian is the whole input’s, not an alias of its columns', () => {
    const side = 512;
    const rows = side * side;
    const cols = 2;
    const data = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const x = r % side;
      data[r * cols] = 1 + ((r * 7919) % 13) / 13;
      data[r * cols + 1] = x % 64 === 0 ? 8 : 0.5;
    }
    const s = createLayerStats(cols, true, false);
    addRows(s, data, rows);
    expect(rows / HESSIAN_ROWS).toBe(64);
    expect(relRms(s.hessian!.hessian(), fullHessian(data, rows, cols))).toBeLessThan(0.1);
  });

  it('keeps every row when a batch has HESSIAN_ROWS or fewer', () => {
    const rows = 100;
    const data = Float32Array.from({ length: rows * 3 }, (_, i) => Math.sin(i));
    const s = createLayerStats(3, true, false);
    addRows(s, data, rows);
    expect(relRms(s.hessian!.hessian(), fullHessian(data, rows, 3))).toBeLessThan(1e-6);
  });
});
