import { afterEach, describe, expect, it, vi } from 'vitest';
import { referenceKernels } from './kernels/index.js';
import type { Granularity } from './layout.js';
import { outputArray, setUninitializedAllocator, UNINITIALIZED_MIN_BYTES } from './output-array.js';
import { dequantize, fakeQuantize, quantize } from './quantize.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs every kernel, the scalar reference ones included, over large garbage-filled arrays.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

afterEach(() => {
  setUninitializedAllocator(undefined);
});

/** Byte-for-byte equality: toEqual walks a million elements one generic comparison at a time. */
function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** An allocator whose memory is full of a byte pattern, as reused memory would be; records the sizes asked for. */
function garbageAllocations(byte: number): { calls: number[] } {
  const calls: number[] = [];
  setUninitializedAllocator((bytes) => {
    calls.push(bytes);
    // At an offset, as a slice of some larger block could be.
    return { buffer: new Uint8Array(bytes + 64).fill(byte).buffer, byteOffset: 64 };
  });
  return { calls };
}

describe('outputArray', () => {
  it('takes large outputs from the installed allocator, typed and sized as asked', () => {
    const { calls } = garbageAllocations(0xa5);
    const n = UNINITIALIZED_MIN_BYTES / 4 + 3;
    const a = outputArray(Float32Array, n);
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(n);
    expect(new Uint8Array(a.buffer, a.byteOffset, 4)).toEqual(new Uint8Array([0xa5, 0xa5, 0xa5, 0xa5]));
    const c = outputArray(Int16Array, UNINITIALIZED_MIN_BYTES);
    expect(c).toBeInstanceOf(Int16Array);
    expect(c.length).toBe(UNINITIALIZED_MIN_BYTES);
    expect(calls).toEqual([n * 4, UNINITIALIZED_MIN_BYTES * 2]);
  });

  it('keeps the plain zeroed constructor below the threshold and when no allocator is installed (browsers)', () => {
    const { calls } = garbageAllocations(0xa5);
    expect(Array.from(outputArray(Uint8Array, 16))).toEqual(new Array(16).fill(0));
    expect(calls).toEqual([]);
    const previous = setUninitializedAllocator(undefined);
    expect(previous).toBeTypeOf('function');
    const big = outputArray(Uint8Array, UNINITIALIZED_MIN_BYTES);
    expect(big.length).toBe(UNINITIALIZED_MIN_BYTES);
    expect(big.every((v) => v === 0)).toBe(true);
    expect(calls).toEqual([]);
  });
});

/*
 * The uninitialized arrays are only safe because every entry point writes every element. These
 * cases hand the entry points memory full of garbage and compare each result with the one written
 * into a zeroed caller array: a kernel that skipped a tail, a block or a channel would differ.
 */
describe('entry points overwrite every element of an uninitialized output', () => {
  // 1031 x 1019 > 2^20 codes, so even uint8 codes cross the threshold; odd sizes leave vector tails
  // and a short last block.
  const shape = [1031, 1019];
  const n = shape[0] * shape[1];
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.37) * (1 + (i % 7));
  const granularities: Array<[string, Granularity]> = [
    ['per-tensor', { kind: 'per-tensor' }],
    ['per-channel axis 0', { kind: 'per-axis', axis: 0 }],
    ['per-block axis 1, block 32', { kind: 'per-block', axis: 1, blockSize: 32 }],
  ];

  for (const [name, granularity] of granularities) {
    for (const dtype of ['uint8', 'int4', 'int16'] as const) {
      it(`quantize / dequantize / fakeQuantize, ${dtype} ${name}`, () => {
        const { calls } = garbageAllocations(0xa5);
        const got = quantize(x, shape, { dtype, granularity });
        const want = quantize(x, shape, { dtype, granularity, out: new (got.codes.constructor as Int8ArrayConstructor)(n) });
        expect(bytesOf(got.codes).equals(bytesOf(want.codes))).toBe(true);
        const back = dequantize(got.codes, shape, got.params);
        expect(bytesOf(back).equals(bytesOf(dequantize(got.codes, shape, got.params, { out: new Float32Array(n) })))).toBe(true);
        const fq = fakeQuantize(x, shape, { dtype, granularity });
        expect(bytesOf(fq.values).equals(bytesOf(fakeQuantize(x, shape, { dtype, granularity, out: new Float32Array(n) }).values))).toBe(true);
        // Three outputs came from the garbage allocator (the quantize, dequantize and fake-quantize without `out`).
        expect(calls.length).toBe(3);
      });
    }
  }

  it('the reference kernels and stochastic rounding write every element too', () => {
    garbageAllocations(0x5a);
    const opts = { dtype: 'int8', kernels: referenceKernels } as const;
    const got = quantize(x, shape, opts);
    expect(bytesOf(got.codes).equals(bytesOf(quantize(x, shape, { ...opts, out: new Int8Array(n) }).codes))).toBe(true);
    const sto = quantize(x, shape, { dtype: 'int8', rounding: 'stochastic', seed: 3 });
    expect(bytesOf(sto.codes).equals(bytesOf(quantize(x, shape, { dtype: 'int8', rounding: 'stochastic', seed: 3, out: new Int8Array(n) }).codes))).toBe(true);
  });
});
