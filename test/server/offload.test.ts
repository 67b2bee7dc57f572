import { afterAll, describe, expect, it, vi } from 'vitest';
import { builtApp, closeBuiltApps, importBuilt, watchOffloads } from './built-app.js';
import { CODES, INSTANCES, rows, runOnInstances, stateOf, X, XL } from './offload-scenarios.js';
import type { FastifyInstance } from 'fastify';
import { encodeNpy } from '../../src/formats/npy.js';

// Beyond vitest's 5 s default on a 2-core machine: this file arrays of millions of elements through the built service and its offload worker.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterAll(closeBuiltApps);

function batches(n: number, size: number): number[][][] {
  return Array.from({ length: n }, (_, b) => [Array.from({ length: size }, (_, i) => Math.sin(i * 0.37 + b) * (1 + b) + (i % 97 === 0 ? 20 : 0))]);
}

const CONFIG = { quantization_mode: 'CALIBRATED', use_percentile: true, min_percentile: 1, max_percentile: 99 };

describe('calibration in the worker thread', () => {
  it('gives the same report and parameters as calibrating inline', async () => {
    const inline = await builtApp(Number.MAX_SAFE_INTEGER);
    const worker = await builtApp(1);
    expect(worker.offloader.available).toBe(true);
    const body = { data: batches(3, 500) };
    const x = { data: [[-5, 0.25, 3, 40]] };
    const answers = [];
    for (const app of [inline, worker]) {
      await app.inject({ method: 'POST', url: '/instances/p', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(CONFIG) });
      const cal = await app.inject({ method: 'POST', url: '/instances/p/calibrate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      expect(cal.statusCode).toBe(200);
      const q = await app.inject({ method: 'POST', url: '/instances/p/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(x) });
      const params = await app.inject({ method: 'GET', url: '/instances/p/parameters' });
      // The worker's report is kept as the last calibration too, histogram of the data included.
      const last = await app.inject({ method: 'GET', url: '/instances/p/calibration' });
      expect(last.json()).toEqual(cal.json());
      const { calibrated_at, ...report } = cal.json() as Record<string, unknown>;
      expect(typeof calibrated_at).toBe('string');
      answers.push({ cal: report, q: q.json(), params: params.json() });
    }
    expect((answers[1].cal.data_histogram as { counts: number[] }).counts.reduce((a, b) => a + b, 0)).toBe(1500);
    expect(answers[1]).toEqual(answers[0]);
  });

  it('reports engine errors from the worker as 4xx', async () => {
    const app = await builtApp(1);
    await app.inject({ method: 'POST', url: '/instances/n', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(CONFIG) });
    const r = await app.inject({ method: 'POST', url: '/instances/n/calibrate', headers: { 'content-type': 'application/json' }, payload: '{"data": [[[1, NaN]]]}' });
    expect(r.statusCode).toBe(422);
    expect(r.json().code).toBe('NAN_INPUT');
  });

  it('GET / answers while a large calibration runs', async () => {
    const app = await builtApp(1 << 16);
    await app.inject({ method: 'POST', url: '/instances/big', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ quantization_mode: 'CALIBRATED', use_percentile: true }) });
    const n = 1 << 22;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i) * 3;
    // A .npy body (an array of one batch) keeps parsing short, so the calibration itself is what runs long.
    const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [1, 1024, 4096], data: x }));
    let calibrated = false;
    const cal = app
      .inject({ method: 'POST', url: '/instances/big/calibrate', headers: { 'content-type': 'application/x-npy' }, payload: npy })
      .then((r) => {
        calibrated = true;
        return r;
      });
    // Let the calibration request reach its handler (and the worker) first.
    await new Promise((r) => setTimeout(r, 50));
    const busyBefore = app.offloader.busy;
    const health = await app.inject({ method: 'GET', url: '/' });
    expect(health.statusCode).toBe(200);
    // Answered while the worker held the calibration, not after it.
    expect(busyBefore && app.offloader.busy).toBe(true);
    expect(calibrated).toBe(false);
    expect((await cal).statusCode).toBe(200);
  });
});


type Call = { method: 'GET' | 'POST' | 'DELETE'; url: string; body?: unknown; npy?: Buffer };
const post = (url: string, body: unknown): Call => ({ method: 'POST', url, body });
const postNpy = (url: string, npy: Buffer): Call => ({ method: 'POST', url, npy });

/** Status, content type, .npy metadata header and the raw bytes: what must match bit for bit. */
async function send(app: FastifyInstance, c: Call) {
  const r = await app.inject({
    method: c.method,
    url: c.url,
    headers: c.npy ? { 'content-type': 'application/x-npy', accept: 'application/x-npy' } : c.body === undefined ? {} : { 'content-type': 'application/json' },
    payload: c.npy ?? (c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body)),
  });
  return { call: `${c.method} ${c.url}${c.npy ? ' (.npy)' : ''}`, status: r.statusCode, type: r.headers['content-type'], meta: r.headers['x-quantkit-meta'], body: r.rawPayload };
}

/** GET stats (less the processing time, a clock reading) and parameters of an instance. */
const f32npy = (data: Float32Array, shape: number[]) => Buffer.from(encodeNpy({ dtype: 'float32', shape, data }));
const int16npy = (data: Int16Array, shape: number[]) => Buffer.from(encodeNpy({ dtype: 'int16', shape, data }));

/** The same requests against each instance; errors included (NaN, a channel mismatch, bad codes). */
function scenario(id: string): Call[] {
  const at = (op: string, q = '') => `/instances/${id}/${op}${q}`;
  return [
    post(at('quantize'), { data: rows(X, 6) }),
    postNpy(at('quantize'), f32npy(X, [4, 6])),
    post(at('quantize_dequantize'), { data: rows(XL, 6) }),
    postNpy(at('quantize_dequantize'), f32npy(XL, [4, 6])),
    post(at('dequantize'), { data: rows(CODES, 6) }),
    postNpy(at('dequantize'), int16npy(CODES, [4, 6])),
    post(at('compute_params'), { data: rows(XL, 6) }),
    post(at('compute_params'), { data: rows(XL, 6), channel_idx: 2 }),
    postNpy(at('quantize'), f32npy(XL, [4, 6])),
    post(at('quantize'), '{"data": [[1, NaN, 2]]}'),
    post(at('quantize'), { data: rows(X, 4), channel_dim: 1 }),
    post(at('dequantize'), { data: [[1, 70000]] }),
    post(at('dequantize'), { data: rows(CODES, 6), channel_dim: 1 }),
  ];
}

/** Runs every instance's scenario on one app: its answers and each instance's state afterwards. */
async function runScenarios(app: FastifyInstance) {
  return runOnInstances(app, async (id) => {
    const out = [];
    for (const c of scenario(id)) out.push(await send(app, c));
    return out;
  });
}

describe('quantize, dequantize, quantize_dequantize and compute_params in the worker thread', () => {
  it('answer and leave the instance exactly as inline (JSON and .npy, per-tensor and per-channel, errors too)', async () => {
    const inline = await runScenarios(await builtApp(Number.MAX_SAFE_INTEGER));
    const app = await builtApp(1);
    const seen = watchOffloads(app);
    const offloaded = await runScenarios(app);
    // The worker did the work: every array request above went to it.
    const perInstance = Object.keys(INSTANCES).length;
    expect(seen.counts).toEqual({ calibrate: 2, quantize: 7 * perInstance, dequantize: 4 * perInstance, computeParams: 2 * perInstance, upload: 0 });
    expect(offloaded.answers.length).toBe(inline.answers.length);
    for (let i = 0; i < inline.answers.length; i++) {
      const a = inline.answers[i];
      const b = offloaded.answers[i];
      expect({ ...b, body: b.body.toString('base64') }, a.call).toEqual({ ...a, body: a.body.toString('base64') });
      expect(a.status, a.call).toBeLessThan(500);
    }
    expect(offloaded.states).toEqual(inline.states);
    // The scenarios do exercise what must carry over: requantization, per-channel and non-finite counts, engine errors.
    const st = inline.states as Record<string, { stats: Record<string, number>; parameters: string }>;
    expect(st.cal.stats.requantizations).toBeGreaterThan(0);
    expect(st.calpc.stats.requantizations).toBeGreaterThan(0);
    expect(st.f16.stats.non_finite_values).toBe(1);
    expect(JSON.parse(st.pc.parameters).instance.last.scale).toHaveLength(4);
    // Every outcome inline, by instance (200, or the error code): the worker's were the same bytes.
    const ok = Array(9).fill(200);
    const outcomes = Object.fromEntries(
      Object.keys(INSTANCES).map((id) => [id, inline.answers.filter((a) => a.call.includes(`/${id}/`)).map((a) => (a.status === 200 ? 200 : `${a.status} ${JSON.parse(a.body.toString()).code}`))]),
    );
    expect(outcomes).toEqual({
      dyn: [...ok, '422 NAN_INPUT', 200, '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH'],
      pc: [...ok, '422 NAN_INPUT', 200, '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH'],
      cal: [...ok, '422 NAN_INPUT', '422 SHAPE_MISMATCH', '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH'],
      calpc: [...ok, '422 SHAPE_MISMATCH', '422 SHAPE_MISMATCH', '422 INVALID_ARGUMENT', '422 SHAPE_MISMATCH'],
      f16: [200, 200, 200, 200, 200, 200, '422 UNSUPPORTED', '422 UNSUPPORTED', 200, 200, 200, '422 INVALID_ARGUMENT', 200],
      uncal: [...Array(6).fill('409 NOT_CALIBRATED'), 200, 200, ...Array(5).fill('409 NOT_CALIBRATED')],
    });
  });

  it('answers and counts as inline when the main thread runs the scalar kernels and the worker SIMD ones', async () => {
    const kernels = await importBuilt<typeof import('../../src/core/kernels/index.js')>('core/kernels/index.js');
    const before = kernels.getKernels();
    // The worker keeps its own (SIMD) kernels: both must give the same bytes and counts.
    kernels.setKernels(kernels.referenceKernels);
    try {
      const run = async (app: FastifyInstance) => {
        await send(app, post('/instances/c', { quantization_mode: 'PER_CHANNEL', channel_dim: 0 }));
        const out = [];
        for (const c of [post('/instances/c/quantize', { data: rows(X, 6) }), post('/instances/c/dequantize', { data: rows(CODES, 6) }), postNpy('/instances/c/dequantize', int16npy(CODES, [4, 6])), post('/instances/c/quantize_dequantize', { data: rows(XL, 6) })]) {
          out.push(await send(app, c));
        }
        return { out: out.map((a) => ({ ...a, body: a.body.toString('base64') })), state: await stateOf(app, 'c') };
      };
      const inline = await run(await builtApp(Number.MAX_SAFE_INTEGER));
      const app = await builtApp(1);
      const seen = watchOffloads(app);
      const offloaded = await run(app);
      expect(seen.counts.dequantize).toBe(2);
      expect(offloaded).toEqual(inline);
      // There is no table cache: the contract's counters are served and always 0.
      expect(inline.state.stats).toMatchObject({ dequantize_calls: 3, quantize_calls: 2, cache_hits: 0, cache_misses: 0 });
    } finally {
      kernels.setKernels(before);
    }
  });

  it('GET / answers while a large quantize runs, and the instance can be deleted meanwhile', async () => {
    const app = await builtApp(1 << 16);
    const seen = watchOffloads(app);
    // Percentile ranges make the worker's quantize long next to a GET / (no clock involved).
    await send(app, post('/instances/big', { use_percentile: true }));
    const n = 1 << 22;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i) * 3;
    const order: string[] = [];
    const started = seen.started();
    const q = send(app, postNpy('/instances/big/quantize', f32npy(x, [1024, 4096]))).then((r) => {
      order.push('quantize');
      return r;
    });
    await started;
    const health = await app.inject({ method: 'GET', url: '/' });
    order.push('health');
    expect(health.statusCode).toBe(200);
    expect(app.offloader.busy).toBe(true);
    // Deleting waits behind the running quantize in the instance's queue, then succeeds.
    const del = await app.inject({ method: 'DELETE', url: '/instances/big' });
    expect(app.offloader.busy).toBe(false);
    const done = await q;
    expect(order[0]).toBe('health');
    expect(done.status).toBe(200);
    expect(JSON.parse(done.meta as string).original_shape).toEqual([1024, 4096]);
    expect(done.body.length).toBe(n + 128);
    expect(del.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/instances/big/stats' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/instances' })).json()).not.toContain('big');
  });

  it('hands arrays to the worker by transfer, copying only small pooled views', async () => {
    const { Offloader } = await importBuilt<typeof import('../../src/server/offload/offload.js')>('server/offload/offload.js');
    const { Quantizer } = await importBuilt<typeof import('../../src/engine/quantizer.js')>('engine/quantizer.js');
    const o = new Offloader(1);
    const q = new Quantizer();
    const target = { key: 1, quantizer: new Quantizer() };
    try {
      const big = Float32Array.from({ length: 1 << 12 }, (_, i) => i - 2000);
      const expected = q.quantize({ data: big.slice(), shape: [big.length] });
      const pending = o.quantize('quantize', target, big, [big.length], {});
      // Transferred, not copied: the caller's buffer is detached at once.
      expect(big.buffer.byteLength).toBe(0);
      const { value, stats } = await pending;
      expect(value.codes).toEqual(expected.codes);
      expect(stats.quantizeCalls).toBe(1);
      // A small view into Node's shared Buffer pool must not detach its neighbours.
      const pooled = Buffer.allocUnsafe(12);
      expect(pooled.buffer.byteLength).toBeGreaterThan(12);
      const view = new Float32Array(pooled.buffer, pooled.byteOffset, 3);
      view.set([1, 2, 3]);
      await o.quantize('quantize', target, view, [3], {});
      expect(Array.from(view)).toEqual([1, 2, 3]);
    } finally {
      await o.close();
    }
  });
});

describe('large JSON bodies (the built service)', () => {
  const rows = 600;
  const cols = 1000;
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(Math.sin(i * 0.001) * 4 + (i % 7) * 0.01);
  const nested = Array.from({ length: rows }, (_, r) => Array.from(x.subarray(r * cols, (r + 1) * cols)));

  it('gives exactly the codes of the .npy path for a body over 4 MiB', async () => {
    const app = await builtApp(Number.MAX_SAFE_INTEGER);
    const text = JSON.stringify({ validate: true, data: nested, layer_name: null });
    expect(text.length).toBeGreaterThan(4 << 20);
    const viaJson = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: text });
    expect(viaJson.statusCode).toBe(200);
    const viaNpy = await app.inject({
      method: 'POST',
      url: '/instances/default/quantize',
      headers: { 'content-type': 'application/x-npy' },
      payload: Buffer.from(encodeNpy({ dtype: 'float32', shape: [rows, cols], data: x })),
    });
    expect(viaJson.json()).toEqual(viaNpy.json());
  });

  it('locates a ragged row or a string near the end of a large body', async () => {
    const app = await builtApp(Number.MAX_SAFE_INTEGER);
    const bad = nested.map((r, i) => (i === rows - 3 ? r.slice(1) : r));
    const r = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ data: bad }) });
    expect(r.statusCode).toBe(422);
    expect(r.json().detail[0].loc).toEqual(['body', 'data', rows - 3]);
    const str = nested.map((row, i) => (i === rows - 2 ? [...row.slice(0, 5), 'x', ...row.slice(6)] : row));
    const s = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ data: str }) });
    expect(s.json().detail[0]).toMatchObject({ loc: ['body', 'data', rows - 2, 5], msg: 'expected a number, got a string' });
  });

  it('parses rank-3 bodies too', async () => {
    const app = await builtApp(Number.MAX_SAFE_INTEGER);
    const cube = Array.from({ length: 3 }, () => nested.slice(0, 200));
    const r = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ data: cube }) });
    expect(r.statusCode).toBe(200);
    expect(r.json().original_shape).toEqual([3, 200, cols]);
  });
});
