import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { json, testStore } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file calibrates, quantizes, exports, imports and persists four layers per test, once through the offload worker.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

// Layer names are the client's: these are the ones an ordinary object would resolve through its
// prototype ("__proto__" even sets it). Each must be a layer like any other, end to end.
const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'] as const;
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

afterEach(() => {
  // A failure must not leak into the next test through a polluted Object.prototype.
  for (const k of Object.getOwnPropertyNames(Object.prototype)) if (!PROTOTYPE_KEYS.includes(k)) delete (Object.prototype as Record<string, unknown>)[k];
});

/** An object literal cannot spell an own "__proto__" key; JSON text (what a client sends) can. */
function layerMap(value: unknown): Record<string, unknown> {
  return JSON.parse(`{${NAMES.map((n) => `${JSON.stringify(n)}: ${JSON.stringify(value)}`).join(', ')}}`) as Record<string, unknown>;
}

async function open(dir: string, offloadThreshold?: number): Promise<FastifyInstance> {
  return buildApp({ store: await testStore(dir), logger: false, ...(offloadThreshold === undefined ? {} : { offloadThreshold }) });
}

function body(r: { body: string }): Record<string, unknown> {
  return JSON.parse(r.body) as Record<string, unknown>;
}

function expectCleanPrototype(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_KEYS);
  expect(({} as Record<string, unknown>).calibrated).toBeUndefined();
  expect(({} as Record<string, unknown>).last).toBeUndefined();
}

async function expectServiceWorks(app: FastifyInstance, id: string): Promise<void> {
  expect((await json(app, 'POST', `/instances/${id}`, { quantization_type: 'UINT8' })).statusCode).toBe(200);
  expect((await json(app, 'PUT', `/instances/${id}/config`, { quantization_type: 'INT16', symmetric: true })).statusCode).toBe(200);
  const doc = await json(app, 'GET', '/openapi.json');
  expect(doc.statusCode).toBe(200);
  expect(body(doc).openapi).toBeDefined();
}

const BATCH = [[-1.5, 0.25, 2, 7.5]];
const DATA = { data: [[-1, 0.5, 3, 6.25]] };

describe.each([
  { how: 'inline', offloadThreshold: undefined },
  { how: 'in the offload worker', offloadThreshold: 1 },
])('layers named like Object.prototype members ($how)', ({ offloadThreshold }) => {
  it('are configured, calibrated, quantized, exported, imported and persisted as layers; the prototype stays clean', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quantkit-proto-'));
    dirs.push(dir);
    let app = await open(dir, offloadThreshold);
    const custom = layerMap({ quantization_type: 'INT16' });
    const created = await json(app, 'POST', '/instances/p', { quantization_mode: 'CALIBRATED', custom_quantization_config: custom });
    expect(created.statusCode, created.body).toBe(200);

    // Served back with every key, "__proto__" included.
    const config = body(await json(app, 'GET', '/instances/p/config'));
    expect(Object.keys(config.custom_quantization_config as object).sort()).toEqual([...NAMES].sort());

    const codes: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const name of NAMES) {
      const cal = await json(app, 'POST', '/instances/p/calibrate', { data: BATCH, layer_name: name });
      expect(cal.statusCode, `${name}: ${cal.body}`).toBe(200);
      expect(body(cal).layer_name).toBe(name);
      const q = await json(app, 'POST', '/instances/p/quantize', { ...DATA, layer_name: name });
      expect(q.statusCode, `${name}: ${q.body}`).toBe(200);
      // The layer's override applied: INT16, where the instance quantizes INT8.
      expect(body(q).dtype, name).toBe('int16');
      codes[name] = body(q).data;
      const lp = await json(app, 'GET', `/instances/p/layer_params/${encodeURIComponent(name)}`);
      expect(lp.statusCode, `${name}: ${lp.body}`).toBe(200);
      expect((body(lp).calibrated as { dtype: string }).dtype).toBe('int16');
    }
    expectCleanPrototype();

    const exported = body(await json(app, 'GET', '/instances/p/parameters'));
    const layers = exported.layers as Record<string, { calibrated?: unknown; last?: unknown }>;
    expect(Object.keys(layers).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) {
      expect(Object.prototype.hasOwnProperty.call(layers, name)).toBe(true);
      expect(layers[name].calibrated).toBeDefined();
    }

    // Imported into a second instance of the same config, it quantizes every layer the same.
    expect((await json(app, 'POST', '/instances/q', { quantization_mode: 'CALIBRATED', custom_quantization_config: custom })).statusCode).toBe(200);
    const imported = await json(app, 'POST', '/instances/q/parameters', { parameters: exported });
    expect(imported.statusCode, imported.body).toBe(200);
    for (const name of NAMES) {
      expect(body(await json(app, 'POST', '/instances/q/quantize', { ...DATA, layer_name: name })).data, name).toEqual(codes[name]);
    }
    expectCleanPrototype();
    await expectServiceWorks(app, 'other');

    // Restart on the same data dir: the config and every layer's parameters come back.
    await app.close();
    app = await open(dir, offloadThreshold);
    const again = body(await json(app, 'GET', '/instances/p/config'));
    expect(again.custom_quantization_config).toEqual(config.custom_quantization_config);
    expect(Object.keys(again.custom_quantization_config as object).sort()).toEqual([...NAMES].sort());
    const reExported = body(await json(app, 'GET', '/instances/p/parameters'));
    expect(Object.keys(reExported.layers as object).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) {
      expect(body(await json(app, 'POST', '/instances/p/quantize', { ...DATA, layer_name: name })).data, name).toEqual(codes[name]);
    }
    expectCleanPrototype();
    await expectServiceWorks(app, 'after-restart');
    await app.close();
  });
});

describe('PUT config with layer maps keyed like Object.prototype members', () => {
  it('keeps "__proto__" in custom_quantization_config (stored, served back, applied)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quantkit-proto-'));
    dirs.push(dir);
    const app = await open(dir);
    const put = await json(app, 'PUT', '/instances/default/config', '{"custom_quantization_config": {"__proto__": {"quantization_type": "UINT8", "num_bits": 6}}}');
    expect(put.statusCode, put.body).toBe(200);
    const served = body(await json(app, 'GET', '/instances/default/config')).custom_quantization_config as Record<string, unknown>;
    expect(Object.keys(served)).toEqual(['__proto__']);
    expect(JSON.stringify(served)).toBe('{"__proto__":{"quantization_type":"UINT8","num_bits":6}}');
    const q = body(await json(app, 'POST', '/instances/default/quantize', { ...DATA, layer_name: '__proto__' }));
    expect(q.dtype).toBe('uint6');
    // Other layers keep the instance's INT8.
    expect(body(await json(app, 'POST', '/instances/default/quantize', { ...DATA, layer_name: 'fc1' })).dtype).toBe('int8');
    expectCleanPrototype();
    await app.close();
  });
});
