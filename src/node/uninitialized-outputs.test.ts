import { afterEach, describe, expect, it, vi } from 'vitest';
import { outputArray, setUninitializedAllocator, UNINITIALIZED_MIN_BYTES } from '../core/output-array.js';
import { quantize } from '../core/quantize.js';
import { installUninitializedOutputs } from './uninitialized-outputs.js';

afterEach(() => {
  vi.restoreAllMocks();
  setUninitializedAllocator(undefined);
});

describe('installUninitializedOutputs', () => {
  it('makes large outputs Buffer.allocUnsafeSlow memory and leaves small ones alone', () => {
    const spy = vi.spyOn(Buffer, 'allocUnsafeSlow');
    installUninitializedOutputs();
    const big = outputArray(Float32Array, UNINITIALIZED_MIN_BYTES / 4);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy).toHaveBeenCalledWith(UNINITIALIZED_MIN_BYTES);
    expect(big.byteOffset).toBe(0);
    outputArray(Uint8Array, 1000);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('quantize results over that memory equal those written into zeroed arrays', () => {
    installUninitializedOutputs();
    const n = UNINITIALIZED_MIN_BYTES + 5;
    const x = new Float32Array(n).map((_, i) => Math.sin(i));
    const got = quantize(x, [n], { dtype: 'uint8' }).codes;
    const want = quantize(x, [n], { dtype: 'uint8', out: new Uint8Array(n) }).codes;
    expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want))).toBe(true);
  });
});
