import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../src/formats/npy.js';
import { json, testApp, type TestApp, multipart } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(async () => t.close());

const X = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 3);
const npy = (data: Float32Array | Int8Array, shape: number[]) =>
  Buffer.from(encodeNpy({ dtype: data instanceof Int8Array ? 'int8' : 'float32', shape, data }));

describe('.npy bodies and answers', () => {
  it('quantizes a .npy body to a .npy of codes equal to the JSON answer', async () => {
    const asJson = (await json(t.app, 'POST', '/instances/default/quantize', { data: [Array.from(X.subarray(0, 12)), Array.from(X.subarray(12))] })).json();
    const r = await t.app.inject({
      method: 'POST',
      url: '/instances/default/quantize',
      headers: { 'content-type': 'application/x-npy', accept: 'application/x-npy' },
      payload: npy(X, [2, 12]),
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/x-npy');
    const codes = decodeNpy(new Uint8Array(r.rawPayload));
    expect(codes.dtype).toBe('int8');
    expect(codes.shape).toEqual([2, 12]);
    expect(Array.from(codes.data as Int8Array)).toEqual(asJson.data.flat());
    const meta = JSON.parse(r.headers['x-quantkit-meta'] as string);
    expect(meta).toMatchObject({ quantization_type: 'INT8', original_shape: [2, 12], scale: asJson.scale, zero_point: asJson.zero_point });
  });

  it('answers JSON for a .npy body without Accept, and takes options from the query', async () => {
    await json(t.app, 'POST', '/instances/pc', { quantization_mode: 'PER_CHANNEL' });
    const r = await t.app.inject({ method: 'POST', url: '/instances/pc/quantize?channel_dim=0', headers: { 'content-type': 'application/x-npy' }, payload: npy(X, [2, 12]) });
    expect(r.statusCode).toBe(200);
    expect(r.json().original_shape).toEqual([2, 12]);
    expect(r.json().scale).toHaveLength(2);
  });

  it('dequantizes a .npy of codes and quantize_dequantizes to float32 .npy', async () => {
    const q = await t.app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/x-npy', accept: 'application/x-npy' }, payload: npy(X, [24]) });
    const d = await t.app.inject({ method: 'POST', url: '/instances/default/dequantize', headers: { 'content-type': 'application/x-npy', accept: 'application/x-npy' }, payload: q.rawPayload });
    expect(d.statusCode).toBe(200);
    const back = decodeNpy(new Uint8Array(d.rawPayload));
    expect(back.dtype).toBe('float32');
    const qd = await t.app.inject({ method: 'POST', url: '/instances/default/quantize_dequantize', headers: { 'content-type': 'application/x-npy', accept: 'application/x-npy' }, payload: npy(X, [24]) });
    expect(Array.from(decodeNpy(new Uint8Array(qd.rawPayload)).data as Float32Array)).toEqual(Array.from(back.data as Float32Array));
  });
});

describe('upload_numpy', () => {
  it('answers metadata with range, parameters, MSE and SQNR', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/instances/default/upload_numpy?operation=quantize_dequantize', ...multipart('w.npy', npy(X, [4, 6])) });
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(b).toMatchObject({ filename: 'w.npy', operation: 'quantize_dequantize', original_shape: [4, 6], original_dtype: 'float32', result_dtype: 'float32' });
    expect(b.input_range.min).toBeCloseTo(Math.min(...X), 5);
    expect(b.mse).toBeGreaterThan(0);
    expect(b.sqnr_db).toBeGreaterThan(30);
    expect(typeof b.scale).toBe('number');
  });

  it('with download=true answers the resulting .npy', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/instances/default/upload_numpy?operation=quantize&download=true', ...multipart('w.npy', npy(X, [4, 6])) });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-disposition']).toMatch(/w_quantize\.npy/);
    const codes = decodeNpy(new Uint8Array(r.rawPayload));
    expect(codes.dtype).toBe('int8');
    expect(codes.shape).toEqual([4, 6]);
    const d = await t.app.inject({ method: 'POST', url: '/instances/default/upload_numpy?operation=dequantize', ...multipart('c.npy', Buffer.from(r.rawPayload)) });
    expect(d.statusCode).toBe(200);
    expect(d.json().result_dtype).toBe('float32');
  });
  it('reports a float16 quantize result range in values, not in the bits that hold them', async () => {
    await json(t.app, 'POST', '/instances/half', { quantization_type: 'FLOAT16' });
    const r = await t.app.inject({ method: 'POST', url: '/instances/half/upload_numpy?operation=quantize', ...multipart('w.npy', npy(X, [4, 6])) });
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(b.result_dtype).toBe('float16');
    // float16 rounds each value by at most 2^-11 relative; its bits would read 0 .. 50000 here.
    expect(b.result_range.min).toBeCloseTo(b.input_range.min, 2);
    expect(b.result_range.max).toBeCloseTo(b.input_range.max, 2);
    expect(b.mse).toBeLessThan(1e-5);
  });
});

describe('concurrency', () => {
  it('calibrations racing quantizes on one instance: every answer is consistent with the parameters it reports', async () => {
    await json(t.app, 'POST', '/instances/race', { quantization_mode: 'CALIBRATED' });
    await json(t.app, 'POST', '/instances/race/calibrate', { data: [[[0, 1]]] });
    const data = [[-3, -1, 0, 0.5, 2, 7]];
    const jobs: Promise<{ kind: string; body: Record<string, unknown> }>[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 4 === 0) {
        const hi = 1 + i;
        const batches = Array.from({ length: 8 }, (_, b) => [Array.from({ length: 64 }, (_, k) => ((k + b) / 64) * hi - hi / 3)]);
        jobs.push(json(t.app, 'POST', '/instances/race/calibrate', { data: batches }).then((r) => ({ kind: 'cal', body: r.json() })));
      } else {
        jobs.push(json(t.app, 'POST', '/instances/race/quantize', { data }).then((r) => ({ kind: 'q', body: r.json() })));
      }
    }
    const results = await Promise.all(jobs);
    for (const { kind, body } of results) {
      if (kind !== 'q') continue;
      const scale = body.scale as number;
      const zp = body.zero_point as number;
      const want = data[0].map((x) => Math.min(127, Math.max(-128, roundHalfEven(Math.fround(x / scale)) + zp)));
      expect((body.data as number[][])[0]).toEqual(want);
    }
    // Queued in arrival order: the final parameters are those of the last calibration.
    const last = results.filter((r) => r.kind === 'cal').at(-1)!.body;
    const after = (await json(t.app, 'POST', '/instances/race/quantize', { data })).json();
    expect(after.scale).toBe(last.scale);
  });
});

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
