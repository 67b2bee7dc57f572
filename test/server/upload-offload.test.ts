import { afterAll, describe, expect, it, vi } from 'vitest';
import { multipart } from './helpers.js';
import { builtApp, closeBuiltApps, watchOffloads } from './built-app.js';
import { CODES, INSTANCES, runOnInstances, X, XL } from './offload-scenarios.js';
import type { FastifyInstance } from 'fastify';
import { encodeNpy, type NpyArray } from '../../src/formats/npy.js';

// Beyond vitest's 5 s default on a 2-core machine: this file large uploads through the built service and its offload worker.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

afterAll(closeBuiltApps);


const npy = (dtype: NpyArray['dtype'], shape: number[], data: NpyArray['data']) => Buffer.from(encodeNpy({ dtype, shape, data }));

type Upload = { id: string; query: string; file: Buffer; name?: string };

/** Status, content type, disposition and the raw bytes: what must match bit for bit. */
async function upload(app: FastifyInstance, u: Upload) {
  const url = `/instances/${u.id}/upload_numpy?${u.query}`;
  const r = await app.inject({ method: 'POST', url, ...multipart(u.name ?? 'x.npy', u.file) });
  return { call: url, status: r.statusCode, type: r.headers['content-type'], disposition: r.headers['content-disposition'], body: r.rawPayload.toString('base64') };
}

/** GET stats (less the processing time, a clock reading) and parameters of an instance. */
const X64 = Float64Array.from(X, (v, i) => v + i * 1e-9);
const NAN = X.map((v, i) => (i === 7 ? NaN : v));

/** Every operation, download or not, then the errors the engine raises (in the worker) and one it never sees (a bad header). */
function scenario(id: string): Upload[] {
  const up = (query: string, file: Buffer, name?: string): Upload => ({ id, query, file, name });
  return [
    up('operation=quantize', npy('float32', [4, 6], X)),
    up('operation=quantize&download=true', npy('float32', [4, 6], X), 'w 1.npy'),
    up('operation=quantize_dequantize', npy('float32', [4, 6], XL)),
    up('operation=quantize_dequantize&download=true', npy('float64', [4, 6], X64)),
    up('operation=dequantize', npy('int16', [4, 6], CODES)),
    up('operation=dequantize&download=true', npy('int16', [4, 6], CODES)),
    up('operation=quantize', npy('float32', [4, 6], XL)),
    up('operation=quantize', npy('float32', [4, 6], NAN)),
    up('operation=quantize&channel_dim=1', npy('float32', [6, 4], X)),
    up('operation=dequantize', npy('int32', [2], Int32Array.from([1, 70000]))),
    up('operation=dequantize&channel_dim=1', npy('int16', [4, 6], CODES)),
    up('operation=quantize_dequantize', Buffer.from('\x93NUMPY\x01\x00garbage')),
  ];
}

/** Runs every instance's scenario on one app: its answers and each instance's state afterwards. */
async function runScenarios(app: FastifyInstance) {
  return runOnInstances(app, async (id) => {
    const out = [];
    for (const u of scenario(id)) out.push(await upload(app, u));
    return out;
  });
}

describe('upload_numpy in the worker thread', () => {
  it('answers and leaves the instance exactly as inline (every operation, download or not, per-tensor and per-channel, errors too)', async () => {
    const inlineApp = await builtApp(Number.MAX_SAFE_INTEGER);
    const inlineSeen = watchOffloads(inlineApp);
    const inline = await runScenarios(inlineApp);
    const app = await builtApp(1);
    expect(app.offloader.available).toBe(true);
    const seen = watchOffloads(app);
    const offloaded = await runScenarios(app);
    expect(inlineSeen.counts).toEqual({ calibrate: 0, quantize: 0, dequantize: 0, computeParams: 0, upload: 0 });
    // Every upload that got past decoding went to the worker whole (5 quantize, 2 quantize_dequantize and
    // 4 dequantize per instance, errors included), and so did the two calibrations.
    const perInstance = Object.keys(INSTANCES).length;
    expect(seen.counts).toEqual({ calibrate: 2, quantize: 0, dequantize: 0, computeParams: 0, upload: 11 * perInstance });
    expect(offloaded.answers.length).toBe(inline.answers.length);
    for (let i = 0; i < inline.answers.length; i++) {
      expect(offloaded.answers[i], inline.answers[i].call).toEqual(inline.answers[i]);
      expect(inline.answers[i].status, inline.answers[i].call).toBeLessThan(500);
    }
    expect(offloaded.states).toEqual(inline.states);

    // The scenarios do exercise what must carry over: requantization, the restore's dequantize counts, non-finite counts, engine errors.
    const st = inline.states as Record<string, { stats: Record<string, number>; parameters: string }>;
    expect(st.cal.stats.requantizations).toBeGreaterThan(0);
    expect(st.calpc.stats.requantizations).toBeGreaterThan(0);
    // 4 quantize answers each restore their codes (a dequantize), 2 quantize_dequantize, 2 dequantize.
    expect(st.dyn.stats).toMatchObject({ quantize_calls: 6, dequantize_calls: 8 });
    expect(st.f16.stats.non_finite_values).toBe(1);
    expect(JSON.parse(st.pc.parameters).instance.last.scale).toHaveLength(4);
    const answer = (id: string, k: number) => inline.answers.filter((a) => a.call.startsWith(`/instances/${id}/`))[k];
    const first = JSON.parse(Buffer.from(answer('dyn', 0).body, 'base64').toString()) as Record<string, unknown>;
    expect(first).toMatchObject({ operation: 'quantize', original_shape: [4, 6], result_dtype: 'int8' });
    expect(typeof first.mse).toBe('number');
    expect(answer('dyn', 1).disposition).toBe('attachment; filename="w_1_quantize.npy"');
    // Every outcome inline, by instance (200, or the status and error detail): the worker's were the same bytes.
    const outcomes = Object.fromEntries(
      Object.keys(INSTANCES).map((id) => [
        id,
        inline.answers
          .filter((a) => a.call.startsWith(`/instances/${id}/`))
          .map((a) => {
            if (a.status === 200) return 200;
            const body = JSON.parse(Buffer.from(a.body, 'base64').toString()) as { detail: string; code?: string };
            expect(typeof body.detail).toBe('string');
            return `${a.status} ${body.code}`;
          }),
      ]),
    );
    const ok = Array(7).fill(200);
    const badHeader = '400 MALFORMED_FILE';
    expect(outcomes).toEqual({
      dyn: [...ok, '422 NAN_INPUT', 200, '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH', badHeader],
      pc: [...ok, '422 NAN_INPUT', 200, '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH', badHeader],
      cal: [...ok, '422 NAN_INPUT', '422 SHAPE_MISMATCH', '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH', badHeader],
      calpc: [...ok, '422 NAN_INPUT', '422 SHAPE_MISMATCH', '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH', badHeader],
      f16: [...ok, 200, 200, '422 INVALID_ARGUMENT', 200, badHeader],
      uncal: [...Array(11).fill('409 NOT_CALIBRATED'), badHeader],
    });
  });

  it('GET / answers while a large upload runs in the worker', async () => {
    const app = await builtApp(1 << 16);
    const seen = watchOffloads(app);
    // Percentile ranges make the worker's quantize long next to a GET / (no clock involved).
    await app.inject({ method: 'POST', url: '/instances/big', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ use_percentile: true }) });
    const n = 1 << 22;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i) * 3;
    const order: string[] = [];
    const started = seen.started();
    const up = app.inject({ method: 'POST', url: '/instances/big/upload_numpy?operation=quantize', ...multipart('big.npy', npy('float32', [1024, 4096], x)) }).then((r) => {
      order.push('upload');
      return r;
    });
    // Whichever comes first: inline, the upload would finish without the worker ever starting.
    await Promise.race([started, up]);
    expect(seen.counts.upload).toBe(1);
    const health = await app.inject({ method: 'GET', url: '/' });
    order.push('health');
    expect(health.statusCode).toBe(200);
    expect(app.offloader.busy).toBe(true);
    const done = await up;
    expect(order).toEqual(['health', 'upload']);
    expect(done.statusCode).toBe(200);
    const body = done.json() as Record<string, unknown>;
    expect(body).toMatchObject({ operation: 'quantize', original_shape: [1024, 4096], result_dtype: 'int8' });
    // The worker had the input: it gives the answer's range and error measures.
    let max = -Infinity;
    for (const v of x) max = Math.max(max, v);
    expect((body.input_range as { max: number }).max).toBe(max);
    expect(body.mse).toBeGreaterThan(0);
    const stats = (await app.inject({ method: 'GET', url: '/instances/big/stats' })).json() as Record<string, number>;
    expect(stats).toMatchObject({ quantize_calls: 1, dequantize_calls: 1, total_values: n });
  });

  it('hands a large upload to the worker as it was decoded and gets back figures, not arrays', async () => {
    const app = await builtApp(1 << 10);
    const o = app.offloader as unknown as { upload: (target: unknown, work: { data: ArrayBufferView; dtype: string }) => Promise<{ value: Record<string, unknown> }> };
    const seen: { sent: ArrayBufferView; dtype: string; answer: Record<string, unknown> }[] = [];
    const orig = o.upload.bind(app.offloader);
    o.upload = async (target, work) => {
      const r = await orig(target, work);
      seen.push({ sent: work.data, dtype: work.dtype, answer: r.value });
      return r;
    };
    const codes = Int8Array.from({ length: 64 * 64 }, (_, i) => (i % 255) - 127);
    for (const [query, file] of [
      ['operation=quantize', npy('float32', [64, 64], Float32Array.from(codes, (v) => v / 7))],
      ['operation=dequantize', npy('int8', [64, 64], codes)],
      ['operation=quantize_dequantize&download=true', npy('float32', [64, 64], Float32Array.from(codes, (v) => v / 7))],
    ] as const) {
      const r = await app.inject({ method: 'POST', url: `/instances/default/upload_numpy?${query}`, ...multipart('c.npy', file) });
      expect(r.statusCode, query).toBe(200);
    }
    expect(seen.map((s) => s.dtype)).toEqual(['float32', 'int8', 'float32']);
    for (const s of seen) {
      // The decoded .npy's own bytes went over by transfer: no conversion or copy of them here.
      expect(s.sent.byteLength).toBe(0);
    }
    // JSON answers come back as their figures alone; a download as its .npy alone.
    expect(seen[0].answer).toMatchObject({ resultDtype: 'int8', npy: null });
    expect(typeof (seen[0].answer.errors as { mse: unknown }).mse).toBe('number');
    expect(seen[1].answer).toMatchObject({ resultDtype: 'float32', npy: null, errors: null, inputRange: { min: -127, max: 127 } });
    expect(seen[2].answer).toMatchObject({ resultDtype: 'float32', inputRange: null, errors: null });
    expect(seen[2].answer.npy).toBeInstanceOf(Uint8Array);
    for (const a of seen) expect(Object.values(a.answer).some((v) => ArrayBuffer.isView(v) && !(v instanceof Uint8Array))).toBe(false);
  });
});
