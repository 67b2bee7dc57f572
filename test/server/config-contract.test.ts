import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizerConfigJsonSchema } from '../../src/contract/config-json-schema.js';
import { MAX_LAYER_NAMES } from '../../src/engine/config.js';
import { json, testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

/** The contract's schema as the OpenAPI document renders it: no $id, and `const: null` as `enum: [null]`. */
function asOpenApi(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(asOpenApi);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$id') continue;
    if (k === 'const' && v === null) out.enum = [null];
    else out[k] = asOpenApi(v);
  }
  return out;
}

describe('the config model the service validates with and documents', () => {
  it('is the contract\'s schema generated from the engine, on create and on PUT', async () => {
    const doc = (await json(t.app, 'GET', '/openapi.json')).json();
    const expected = asOpenApi(quantizerConfigJsonSchema());
    expect(doc.paths['/instances/{instance_id}'].post.requestBody.content['application/json'].schema).toEqual(expected);
    expect(doc.paths['/instances/{instance_id}/config'].put.requestBody.content['application/json'].schema).toEqual(expected);
  });

  it('answers FastAPI-style issues for what the schema refuses, as before it was generated', async () => {
    const r = await json(t.app, 'POST', '/instances/c1', { num_bits: 17 });
    expect(r.statusCode).toBe(422);
    expect(r.json()).toEqual({ detail: [{ loc: ['body', 'num_bits'], msg: 'must be <= 16', type: 'maximum' }] });
    const extra = await json(t.app, 'POST', '/instances/c1', { custom_quantization_config: { fc1: { num_bitz: 4 } } });
    expect(extra.json()).toEqual({ detail: [{ loc: ['body', 'custom_quantization_config', 'fc1', 'num_bitz'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }] });
    const mixedCase = await json(t.app, 'POST', '/instances/c1', { quantization_type: 'Int8' });
    expect(mixedCase.statusCode).toBe(422);
    expect(mixedCase.json().detail[0]).toMatchObject({ loc: ['body', 'quantization_type'], type: 'enum' });
    const tooMany = await json(t.app, 'POST', '/instances/c1', { skip_layers: Array.from({ length: MAX_LAYER_NAMES + 1 }, (_, i) => `l${i}`) });
    expect(tooMany.json().detail[0]).toMatchObject({ loc: ['body', 'skip_layers'], type: 'maxItems' });
    expect((await json(t.app, 'GET', '/instances/c1')).statusCode).toBe(404);
  });

  it('leaves the rest to the engine: cross-field rules and integers beyond 2^53 are its one-line 422', async () => {
    const bits = await json(t.app, 'POST', '/instances/c2', { quantization_type: 'int4', num_bits: 8 });
    expect(bits.statusCode).toBe(422);
    expect(bits.json()).toEqual({ detail: 'numBits: expected at most 4 bits for INT4, got 8', code: 'INVALID_CONFIG' });
    // zod's .int() bounds are not part of the schema: the engine says what an axis must be.
    const axis = await json(t.app, 'POST', '/instances/c2', { channel_dim: 1e300 });
    expect(axis.json()).toEqual({ detail: 'channelDim: expected an integer axis, got 1e+300', code: 'INVALID_CONFIG' });
  });

  it('takes both enum cases and fills nothing in the body: an untouched num_bits follows the type', async () => {
    expect((await json(t.app, 'POST', '/instances/c3', { quantization_type: 'uint4', quantization_mode: 'calibrated' })).statusCode).toBe(200);
    expect((await json(t.app, 'GET', '/instances/c3/config')).json()).toMatchObject({ quantization_type: 'UINT4', quantization_mode: 'CALIBRATED', num_bits: 4, outlier_threshold: null });
    expect((await json(t.app, 'PUT', '/instances/c3/config', { quantization_type: 'INT16' })).statusCode).toBe(200);
    expect((await json(t.app, 'GET', '/instances/c3/config')).json()).toMatchObject({ quantization_type: 'INT16', quantization_mode: 'DYNAMIC', num_bits: 16 });
  });
});
