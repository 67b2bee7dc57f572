// Large .npy bodies are converted, and large .npy answers sent, without one long step of the event
// loop: bodies in slices with turns in between, answers as the header then the array's own bytes.
// The bytes and numbers are those of the one-step path (decodeNpy + toFloat32, encodeNpy).
import { afterAll, describe, expect, it, vi } from 'vitest';
import { decodeNpy, encodeNpy, toFloat32, type NpyArray } from '../../src/formats/npy.js';
import { Quantizer } from '../../src/engine/quantizer.js';
import { NPY_STREAM_BYTES } from '../../src/server/body/array-reply.js';
import { CONVERT_SLICE_ELEMENTS, npyBodyToNdArray, npyToNdArray } from '../../src/server/body/npy-body.js';
import { testApp, type TestApp } from './helpers.js';

// encodeNpy as is, its calls counted: a large answer must not be encoded into one new buffer.
vi.mock('../../src/formats/npy.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/formats/npy.js')>();
  return { ...m, encodeNpy: vi.fn(m.encodeNpy) };
});

let t: TestApp | undefined;
afterAll(async () => t?.close());

const N = CONVERT_SLICE_ELEMENTS * 2 + 3;

/** setImmediate callbacks that ran while `work` was awaited. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = () => {
    turns++;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work();
  done = true;
  return { value, turns };
}

describe('npyBodyToNdArray', () => {
  const bodies: NpyArray[] = [
    { dtype: 'int8', shape: [N], data: Int8Array.from({ length: N }, (_, i) => (i * 37) % 256 - 128) },
    { dtype: 'uint16', shape: [3, N / 3 | 0], data: Uint16Array.from({ length: 3 * (N / 3 | 0) }, (_, i) => (i * 7919) & 0xffff) },
    { dtype: 'float16', shape: [N], data: Uint16Array.from({ length: N }, (_, i) => (i * 31) & 0x7bff) },
    { dtype: 'int64', shape: [N], data: BigInt64Array.from({ length: N }, (_, i) => BigInt(i) * 1234567891n - (1n << 40n)) },
    { dtype: 'float64', shape: [N], data: Float64Array.from({ length: N }, (_, i) => Math.sin(i) * 1e5) },
  ];
  // The bodies are three conversion slices long (millions of values, BigInt for int64) and each is
  // also converted in one step to compare: seconds of CPU when other suites share the two cores.
  for (const arr of bodies) {
    it(`converts a large ${arr.dtype} body in slices, to the numbers the one-step conversion gives`, { timeout: 30_000 }, async () => {
      const bytes = Buffer.from(encodeNpy(arr));
      const { value, turns } = await turnsDuring(() => npyBodyToNdArray(bytes));
      const once = npyToNdArray(decodeNpy(bytes));
      expect(value.shape).toEqual(arr.shape);
      expect(value.integral).toBe(once.integral);
      expect(Buffer.from(value.data.buffer, value.data.byteOffset, value.data.byteLength).equals(Buffer.from(toFloat32(arr).buffer))).toBe(true);
      // Three slices: at least two turns between them (none when converted in one step).
      expect(turns).toBeGreaterThanOrEqual(2);
    });
  }

  it('refuses what npyToNdArray refuses, with the same error', async () => {
    const complex = Buffer.from(encodeNpy({ dtype: 'complex64', shape: [N], data: new Float32Array(2 * N) }));
    await expect(npyBodyToNdArray(complex)).rejects.toThrow(/complex/);
    const deep = Buffer.from(encodeNpy({ dtype: 'int8', shape: [...Array(40).fill(1), N], data: new Int8Array(N) }));
    await expect(npyBodyToNdArray(deep)).rejects.toMatchObject({ statusCode: 422 });
    expect(() => npyToNdArray(decodeNpy(deep))).toThrow(/rank/);
  });
});

describe('a large .npy answer', () => {
  it('is the bytes encodeNpy gives, with its Content-Length, for codes and for values', async () => {
    t = await testApp();
    // int8 codes of at least NPY_STREAM_BYTES bytes (and float32 values four times that).
    const n = 5 * Math.ceil(NPY_STREAM_BYTES / 5);
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.01) * 4);
    const body = Buffer.from(encodeNpy({ dtype: 'float32', shape: [5, n / 5], data: x }));
    const headers = { 'content-type': 'application/x-npy', accept: 'application/x-npy' };
    vi.mocked(encodeNpy).mockClear();
    const q = await t.app.inject({ method: 'POST', url: '/instances/default/quantize', headers, payload: body });
    expect(q.statusCode).toBe(200);
    const d = await t.app.inject({ method: 'POST', url: '/instances/default/quantize_dequantize', headers, payload: body });
    expect(d.statusCode).toBe(200);
    expect(vi.mocked(encodeNpy)).not.toHaveBeenCalled();
    const codes = new Quantizer().quantize({ data: x, shape: [5, n / 5] });
    const expected = Buffer.from(encodeNpy({ dtype: 'int8', shape: [5, n / 5], data: codes.codes as Int8Array }));
    expect(q.rawPayload.equals(expected)).toBe(true);
    expect(Number(q.headers['content-length'])).toBe(expected.length);
    expect(JSON.parse(q.headers['x-quantkit-meta'] as string)).toMatchObject({ dtype: 'int8' });

    const values = new Quantizer().quantizeDequantize({ data: x, shape: [5, n / 5] }).values;
    const expectedValues = Buffer.from(encodeNpy({ dtype: 'float32', shape: [5, n / 5], data: values }));
    expect(d.rawPayload.equals(expectedValues)).toBe(true);
    expect(Number(d.headers['content-length'])).toBe(expectedValues.length);
  });
});
