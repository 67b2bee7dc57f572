import { describe, expect, it } from 'vitest';
import { chooseIntegerTypes, targetWarning } from './target.js';

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
