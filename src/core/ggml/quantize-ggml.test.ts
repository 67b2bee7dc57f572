import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fp16ToFp32 } from './ggml-float.js';
import { GGML_TYPES, ggmlByteSize, ggmlTypeById, type GgmlType } from './ggml-types.js';
import { dequantizeGgml, ggmlUsesImatrix, quantizeGgml } from './quantize-ggml.js';

const IMPLEMENTED = Object.values(GGML_TYPES).filter((t) => t.quantize).map((t) => t.name as GgmlType);

/** Seeded standard normal float32 values (xorshift32 + Box–Muller). */
function normal(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++) x[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return x;
}

function relativeRmse(x: Float32Array, y: Float32Array): number {
  let e = 0;
  let p = 0;
  for (let i = 0; i < x.length; i++) {
    e += (x[i] - y[i]) ** 2;
    p += x[i] ** 2;
  }
  return Math.sqrt(e / p);
}

// Bounds a little above what each format achieves on standard normal data (ternary types only
// keep signs); a quantizer that lost its scales or levels lands near 1.
const RMSE_BOUND: Record<string, number> = {
  F32: 0, F16: 0.001, BF16: 0.005, Q8_0: 0.01, Q6_K: 0.025, Q5_K: 0.05, Q5_0: 0.05, Q5_1: 0.05,
  Q4_K: 0.09, Q4_0: 0.1, Q4_1: 0.1, IQ4_NL: 0.09, IQ4_XS: 0.09, MXFP4: 0.13, Q3_K: 0.17, Q2_K: 0.32,
  TQ1_0: 0.85, TQ2_0: 0.85,
};

describe('quantizeGgml / dequantizeGgml', () => {
  it.each(IMPLEMENTED)('%s: sizes from the table and a round trip within the format’s error', (type) => {
    const x = normal(2048, 11);
    const q = quantizeGgml(x, type);
    expect(q.length).toBe((2048 / GGML_TYPES[type].blockSize) * GGML_TYPES[type].typeSize);
    expect(q.length).toBe(ggmlByteSize(type, 2048));
    expect(relativeRmse(x, dequantizeGgml(q, type, 2048))).toBeLessThanOrEqual(RMSE_BOUND[type]);
  });

  it('Q8_0 keeps every value within half a step of its block scale', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 32, maxLength: 32 }), (v) => {
        const x = Float32Array.from(v);
        const q = quantizeGgml(x, 'Q8_0');
        const d = fp16ToFp32(q[0] | (q[1] << 8));
        const y = dequantizeGgml(q, 'Q8_0', 32);
        for (let i = 0; i < 32; i++) expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(d * 0.5 * (1 + 2 ** -9) + 1e-30);
      }),
    );
  });

  it('reads a Float32Array view at its own offset', () => {
    const big = normal(512 + 256, 3);
    const view = big.subarray(256);
    for (const type of ['F32', 'F16', 'BF16', 'Q4_K', 'IQ4_XS'] as const) {
      expect(quantizeGgml(view, type)).toEqual(quantizeGgml(Float32Array.from(view), type));
    }
  });

  it('returns empty bytes and values for empty input', () => {
    expect(quantizeGgml(new Float32Array(0), 'Q4_K').length).toBe(0);
    expect(dequantizeGgml(new Uint8Array(0), 'Q4_K', 0).length).toBe(0);
  });

  describe('with an importance matrix', () => {
    const x = normal(1024, 5);
    const imatrix = normal(512, 9).map((v) => v * v);

    it('is used where ggml uses it and ignored where ggml ignores it', () => {
      for (const type of IMPLEMENTED) {
        const same = quantizeGgml(x, type, { imatrix }).every((b, i) => b === quantizeGgml(x, type)[i]);
        expect(same, type).toBe(!ggmlUsesImatrix(type));
      }
    });

    it('reads the input as rows of imatrix.length values', () => {
      // Q4_0's importance path scales its weights by the whole row's mean square, so rows are independent.
      for (const type of ['Q4_0', 'Q4_K', 'IQ4_NL'] as const) {
        const whole = quantizeGgml(x, type, { imatrix });
        const a = quantizeGgml(x.subarray(0, 512), type, { imatrix });
        const b = quantizeGgml(x.subarray(512), type, { imatrix });
        expect(whole).toEqual(Uint8Array.from([...a, ...b]));
      }
    });

    it('weights the error where the matrix is large', () => {
      // Importance on the first half of each row: those columns come back closer than without it.
      const w = new Float32Array(512).fill(1e-6);
      w.fill(1, 0, 256);
      const err = (y: Float32Array) => relativeRmse(x.subarray(0, 256), y.subarray(0, 256));
      const plain = err(dequantizeGgml(quantizeGgml(x, 'Q4_K'), 'Q4_K', 1024));
      const weighted = err(dequantizeGgml(quantizeGgml(x, 'Q4_K', { imatrix: w }), 'Q4_K', 1024));
      expect(weighted).toBeLessThan(plain);
    });
  });

  describe('rejects', () => {
    it('a length that is not a whole number of blocks', () => {
      expect(() => quantizeGgml(new Float32Array(100), 'Q4_K')).toThrow(expect.objectContaining({ code: 'INVALID_BLOCK_SIZE' }));
      expect(() => dequantizeGgml(new Uint8Array(144), 'Q4_K', 100)).toThrow(expect.objectContaining({ code: 'INVALID_BLOCK_SIZE' }));
    });

    it('unknown and unimplemented types, naming what is known', () => {
      expect(() => quantizeGgml(new Float32Array(32), 'Q9_9' as GgmlType)).toThrow(expect.objectContaining({ code: 'UNKNOWN_DTYPE' }));
      expect(() => quantizeGgml(new Float32Array(256), 'IQ2_XXS')).toThrow(/implements F32, F16, BF16, Q4_0/);
      expect(() => quantizeGgml(new Float32Array(32), '__proto__' as GgmlType)).toThrow(expect.objectContaining({ code: 'UNKNOWN_DTYPE' }));
    });

    it('an importance matrix that does not tile the input', () => {
      const x = new Float32Array(1024);
      for (const bad of [new Float32Array(384), new Float32Array(100), new Float32Array(0), new Float32Array(2048)]) {
        expect(() => quantizeGgml(x, 'Q4_K', { imatrix: bad })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
      }
      expect(() => quantizeGgml(x, 'Q4_K', { imatrix: [1, 2] as unknown as Float32Array })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    });

    it('bytes too short for the values asked for', () => {
      expect(() => dequantizeGgml(new Uint8Array(143), 'Q4_K', 256)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    });
  });
});

describe('GGML_TYPES', () => {
  it('finds types by their ggml id', () => {
    expect(ggmlTypeById(12)?.name).toBe('Q4_K');
    expect(ggmlTypeById(39)?.name).toBe('MXFP4');
    expect(ggmlTypeById(4)).toBeUndefined();
  });
});
