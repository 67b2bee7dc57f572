import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quantizeForDequantizeLinear } from './modes/weight-only/dequantize-linear-weight.js';
import { readTensor } from '../formats/onnx/tensor.js';
import { chooseIntegerTypes, INT16_MAX, targetWarning } from './target.js';

describe('chooseIntegerTypes', () => {
  it.each([
    // target, mode, dtype asked, reduceRange asked → activations, weights, reduceRange, kernel
    ['portable', 'dynamic', undefined, undefined, 'uint8', 'uint8', false, 'U8U8'],
    ['portable', 'static', undefined, undefined, 'uint8', 'uint8', false, 'U8U8'],
    ['portable', 'dynamic', 'int8', undefined, 'uint8', 'int8', true, 'U8S8'],
    ['portable', 'static', 'int8', undefined, 'int8', 'int8', true, 'S8S8'],
    ['portable', 'dynamic', 'uint8', undefined, 'uint8', 'uint8', false, 'U8U8'],
    ['x86-vnni', 'dynamic', undefined, undefined, 'uint8', 'int8', false, 'U8S8'],
    ['x86-vnni', 'static', undefined, undefined, 'uint8', 'int8', false, 'U8S8'],
    ['arm64', 'dynamic', undefined, undefined, 'uint8', 'int8', false, 'U8S8'],
    ['arm64', 'static', undefined, undefined, 'int8', 'int8', false, 'S8S8'],
    ['x86-vnni', 'dynamic', 'int8', true, 'uint8', 'int8', true, 'U8S8'],
  ] as const)('%s %s dtype %s reduceRange %s: %s x %s, reduced %s (%s)', (target, mode, dtype, reduceRange, acts, weights, reduced, kernel) => {
    const t = chooseIntegerTypes({ target, mode, dtype, symmetric: undefined, reduceRange });
    expect(t).toMatchObject({ activations: acts, weights, reduceRange: reduced, kernel, weightSymmetric: true });
  });

  it('refuses full-range int8 under portable, naming the arithmetic', () => {
    expect(() => chooseIntegerTypes({ target: 'portable', mode: 'dynamic', dtype: 'int8', symmetric: undefined, reduceRange: false })).toThrow(/255 \* 127 \* 2 > 32767/);
  });
});

describe('targetWarning', () => {
  const vnni = chooseIntegerTypes({ target: 'x86-vnni', mode: 'dynamic', dtype: undefined, symmetric: undefined, reduceRange: undefined });
  const portable = chooseIntegerTypes({ target: 'portable', mode: 'dynamic', dtype: undefined, symmetric: undefined, reduceRange: undefined });
  const avx2 = { arch: 'x64', flags: new Set(['sse4_1', 'avx2']), model: 'AVX2 CPU' };
  it('warns for a full-range U8S8 model on x86 without VNNI, or whose flags are unknown; not with VNNI, on ARM, or for portable models', () => {
    expect(targetWarning(vnni, avx2)).toMatch(/WRONG on this CPU \(AVX2 CPU\): it has no VNNI/);
    expect(targetWarning(vnni, { arch: 'x64' })).toMatch(/does not say whether it has VNNI/);
    expect(targetWarning(vnni, { arch: 'x64', flags: new Set(['avx2', 'avx512_vnni']) })).toBeUndefined();
    expect(targetWarning(vnni, { arch: 'x64', flags: new Set(['avx2', 'avx_vnni']) })).toBeUndefined();
    expect(targetWarning(vnni, { arch: 'arm64' })).toBeUndefined();
    expect(targetWarning(portable, avx2)).toBeUndefined();
  });
});

describe('7-bit weights (reduceRange)', () => {
  it('every int8 code is within [-64, 64], so any uint8 activation pair sums within int16 (seeded property)', () => {
    const names = { codes: 'w', scale: 's', zeroPoint: 'z' };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.float({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 36, maxLength: 36 }),
        (rows, cols, symmetric, perChannel, pool) => {
          const values = Float32Array.from({ length: rows * cols }, (_, i) => pool[i % pool.length]!);
          const q = quantizeForDequantizeLinear(names, values, [rows, cols], 'int8', symmetric, perChannel ? { kind: 'per-axis', axis: 1 } : { kind: 'per-tensor' }, true);
          const codes = readTensor(q.codes).values as Int8Array;
          const worst = Math.max(...Array.from(codes, Math.abs));
          expect(worst).toBeLessThanOrEqual(64);
          expect(255 * worst * 2).toBeLessThanOrEqual(INT16_MAX);
          // Dequantized within half a step of the weights (in range: no clipping).
          const scale = readTensor(q.scale).values as Float32Array;
          const zp = readTensor(q.zeroPoint).values as Int8Array;
          values.forEach((v, i) => {
            const p = perChannel ? i % cols : 0;
            expect(Math.abs((codes[i]! - zp[p]!) * scale[p]! - v)).toBeLessThanOrEqual(scale[p]! * 0.5001 + 1e-30);
          });
        },
      ),
      { seed: 20261207, numRuns: 300 },
    );
  });
});
