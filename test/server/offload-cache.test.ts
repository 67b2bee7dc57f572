// The offload worker keeps a copy of each instance and is sent only what changed since: these
// tests watch the messages the built service posts to its worker.
import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { builtApp, closeBuiltApps } from './built-app.js';
import { rows, stateOf, X, XL } from './offload-scenarios.js';
import type { InstanceSync } from '../../src/server/offload/offload-protocol.js';
import type { Instance } from '../../src/server/instances/instance-registry.js';

// Beyond vitest's 5 s default on a 2-core machine: each test starts built services and their offload workers.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

afterAll(closeBuiltApps);

type Sent = { op: string; instance?: InstanceSync; key?: number; bytes: number };
let sent: Sent[] = [];
const original = Worker.prototype.postMessage;

// Every message to a worker, with the size of its structured clone less the transferred input (what
// the worker has to read besides the array itself).
beforeEach(() => {
  sent = [];
  Worker.prototype.postMessage = function (this: Worker, msg: unknown, transfer?: readonly ArrayBuffer[]) {
    const m = msg as Record<string, unknown>;
    const { x: _x, codes: _c, data: _d, ...rest } = m;
    sent.push({ op: String(m.op), instance: m.instance as InstanceSync | undefined, key: m.key as number | undefined, bytes: serialize(rest).length });
    return original.call(this, msg, transfer as ArrayBuffer[]);
  } as typeof Worker.prototype.postMessage;
});
afterEach(() => {
  Worker.prototype.postMessage = original;
});

const json = (app: FastifyInstance, method: 'POST' | 'PUT' | 'DELETE' | 'GET', url: string, body?: unknown) =>
  app.inject({ method, url, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) }) });

/** Offloaded from 64 elements: BIG is offloaded, X (24) runs inline. */
const THRESHOLD = 64;
const BIG = Float32Array.from({ length: 96 }, (_, i) => Math.cos(i * 0.3) * 2);
const LAYERS = Array.from({ length: 40 }, (_, i) => `block${i}.weight`);
const runs = () => sent.filter((s) => s.instance !== undefined);

/** A per-channel calibrated instance with a calibration for every one of LAYERS (inline: small batches). */
async function manyLayers(app: FastifyInstance, id: string) {
  expect((await json(app, 'POST', `/instances/${id}`, { quantization_mode: 'CALIBRATED', per_channel: true, channel_dim: 1, enable_requantization: true, requantization_threshold: 0.001 })).statusCode).toBe(200);
  for (const layer of LAYERS) {
    expect((await json(app, 'POST', `/instances/${id}/calibrate`, { data: [rows(X, 6)], layer_name: layer })).statusCode).toBe(200);
  }
}

const keyOf = (app: FastifyInstance, id: string) => (app.registry.lookup(id) as Instance).key;

describe('the offload worker keeps a copy of each instance', () => {
  it('sends the whole state once, then nothing for an unchanged instance and only the changed layer after an inline change', async () => {
    const app = await builtApp(THRESHOLD);
    await manyLayers(app, 'm');
    const quantize = (data: Float32Array, layer: string) => json(app, 'POST', '/instances/m/quantize', { data: rows(data, 6), layer_name: layer });
    expect((await quantize(BIG, LAYERS[0])).statusCode).toBe(200);
    expect((await quantize(BIG, LAYERS[0])).statusCode).toBe(200);
    // An inline quantize of another layer changes that layer's last-used entry only.
    expect((await quantize(X, LAYERS[7])).statusCode).toBe(200);
    expect((await quantize(BIG, LAYERS[0])).statusCode).toBe(200);
    const [first, second, third] = runs();
    expect(runs()).toHaveLength(3);
    expect(first.instance!.state!.kind).toBe('whole');
    expect(Object.keys((first.instance!.state as { parameters: { layers: object } }).parameters.layers)).toHaveLength(LAYERS.length);
    expect(second.instance!.state).toBeNull();
    expect(second.instance!.base).not.toBeNull();
    expect(third.instance!.state!.kind).toBe('changes');
    const changed = (third.instance!.state as { parameters: { instance: object; layers: Record<string, object> } }).parameters;
    expect(Object.keys(changed.layers)).toEqual([LAYERS[7]]);
    expect(Object.keys(changed.layers[LAYERS[7]])).toEqual(['last']);
    // What the worker reads besides the array: the whole state once, then a few hundred bytes.
    expect(first.bytes).toBeGreaterThan(20 * second.bytes);
    expect(first.bytes).toBeGreaterThan(5 * third.bytes);
  });

  it('answers and leaves instances exactly as inline through inline changes, offloaded ones and requantizations of several layers', async () => {
    const run = async (app: FastifyInstance) => {
      await manyLayers(app, 'm');
      const out: unknown[] = [];
      for (let i = 0; i < 12; i++) {
        const layer = LAYERS[(i * 7) % 5];
        // Alternately small (inline in both apps) and large (offloaded in one), with outliers that requantize.
        const data = i % 2 === 0 ? BIG.map((v, k) => (k % (11 + i) === 0 ? v * (3 + i) : v)) : i % 3 === 0 ? XL : X;
        const op = ['quantize', 'quantize_dequantize', 'compute_params'][i % 3];
        const r = await json(app, 'POST', `/instances/m/${op}`, { data: rows(data, 6), layer_name: layer });
        out.push({ status: r.statusCode, body: r.json() });
      }
      const cal = await json(app, 'POST', '/instances/m/calibrate', { data: [rows(BIG, 6), rows(BIG.map((v) => v * 2), 6)], layer_name: LAYERS[1] });
      const { calibrated_at: _at, ...report } = cal.json() as Record<string, unknown>;
      out.push(report);
      out.push((await json(app, 'POST', '/instances/m/quantize', { data: rows(BIG, 6), layer_name: LAYERS[1] })).json());
      return { out, state: await stateOf(app, 'm') };
    };
    const inline = await run(await builtApp(Number.MAX_SAFE_INTEGER));
    const app = await builtApp(THRESHOLD);
    const offloaded = await run(app);
    expect(offloaded).toEqual(inline);
    // The worker ran on copies brought up to date by changes, not whole states.
    const kinds = runs().map((s) => s.instance!.state?.kind ?? 'none');
    expect(kinds[0]).toBe('whole');
    expect(kinds.slice(1)).not.toContain('whole');
    expect(kinds).toContain('changes');
    expect((inline.state.stats as Record<string, number>).requantizations).toBeGreaterThan(0);
  });

  it('sees a config change: the next answer is the new config’s, from a whole state', async () => {
    const run = async (app: FastifyInstance) => {
      await json(app, 'POST', '/instances/c', {});
      const a = (await json(app, 'POST', '/instances/c/quantize', { data: rows(BIG, 6) })).json();
      expect((await json(app, 'PUT', '/instances/c/config', { quantization_type: 'UINT8', num_bits: 4 })).statusCode).toBe(200);
      const b = (await json(app, 'POST', '/instances/c/quantize', { data: rows(BIG, 6) })).json();
      return { a, b, state: await stateOf(app, 'c') };
    };
    const inline = await run(await builtApp(Number.MAX_SAFE_INTEGER));
    const offloaded = await run(await builtApp(THRESHOLD));
    expect(offloaded).toEqual(inline);
    expect(offloaded.b).not.toEqual(offloaded.a);
    expect((offloaded.b as { dtype: string }).dtype).toBe('uint4');
    expect(runs().map((s) => s.instance!.state?.kind)).toEqual(['whole', 'whole']);
  });

  it('sends the whole state again to a restarted worker, and to one that lost its copy', async () => {
    const app = await builtApp(THRESHOLD);
    await manyLayers(app, 'm');
    const quantize = () => json(app, 'POST', '/instances/m/quantize', { data: rows(BIG, 6), layer_name: LAYERS[3] });
    const expected = (await quantize()).json();
    await (app.offloader as unknown as { worker: Worker }).worker.terminate();
    expect((await quantize()).json()).toEqual(expected);
    // The worker forgets the copy behind the main thread's back: it answers stale, the request goes again whole.
    (app.offloader as unknown as { worker: Worker }).worker.postMessage({ op: 'drop', key: keyOf(app, 'm') });
    expect((await quantize()).json()).toEqual(expected);
    expect(runs().map((s) => [s.instance!.base === null, s.instance!.state?.kind ?? null])).toEqual([
      [true, 'whole'],
      [true, 'whole'],
      [false, null],
      [true, 'whole'],
    ]);
    expect((await stateOf(app, 'm')).stats).toMatchObject({ quantize_calls: 3 });
  });

  it('lets the copy of a deleted instance go; the id created again starts from a whole state', async () => {
    const app = await builtApp(THRESHOLD);
    for (const id of ['a', 'b']) {
      await json(app, 'POST', `/instances/${id}`, {});
      expect((await json(app, 'POST', `/instances/${id}/quantize`, { data: rows(BIG, 6) })).statusCode).toBe(200);
    }
    const a = keyOf(app, 'a');
    expect(await app.offloader.heldKeys()).toEqual([a, keyOf(app, 'b')]);
    expect((await json(app, 'DELETE', '/instances/a')).statusCode).toBe(200);
    expect(sent.filter((s) => s.op === 'drop').map((s) => s.key)).toEqual([a]);
    expect(await app.offloader.heldKeys()).toEqual([keyOf(app, 'b')]);
    await json(app, 'POST', '/instances/a', { quantization_type: 'UINT8' });
    expect(keyOf(app, 'a')).not.toBe(a);
    const again = (await json(app, 'POST', '/instances/a/quantize', { data: rows(BIG, 6) })).json() as { dtype: string };
    expect(again.dtype).toBe('uint8');
    expect(runs().at(-1)!.instance!.state!.kind).toBe('whole');
  });

  it('counts an offloaded calibration’s processing time, as inline', async () => {
    const stats = async (app: FastifyInstance) => {
      await json(app, 'POST', '/instances/t', { quantization_mode: 'CALIBRATED' });
      expect((await json(app, 'POST', '/instances/t/calibrate', { data: [rows(BIG, 6), rows(BIG, 6)] })).statusCode).toBe(200);
      return (await json(app, 'GET', '/instances/t/stats')).json() as Record<string, number>;
    };
    const inline = await stats(await builtApp(Number.MAX_SAFE_INTEGER));
    const offloaded = await stats(await builtApp(THRESHOLD));
    expect(runs().map((s) => s.op)).toEqual(['calibrate']);
    expect(inline.processing_time_ms).toBeGreaterThan(0);
    expect(offloaded.processing_time_ms).toBeGreaterThan(0);
    const { processing_time_ms: _a, ...restInline } = inline;
    const { processing_time_ms: _b, ...restOffloaded } = offloaded;
    expect(restOffloaded).toEqual(restInline);
  });
});
