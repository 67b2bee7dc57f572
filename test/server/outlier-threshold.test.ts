import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

describe('outlier_threshold', () => {
  // Under the validator's type coercion the null branch of [number, null] used to turn 0, false
  // and "" into null, answering 200 with outlier clipping silently off.
  it.each([0, false, '', -1, '0', 'abc', [], {}, -Number.MAX_VALUE].map((v) => ({ v })))('$v is a 422 naming the field and what it expects, on create and PUT', async ({ v }) => {
    expect((await json(t.app, 'PUT', '/instances/default/config', { outlier_threshold: 2.5 })).statusCode).toBe(200);
    const put = await json(t.app, 'PUT', '/instances/default/config', { outlier_threshold: v });
    expect(put.statusCode).toBe(422);
    expect(JSON.stringify(JSON.parse(put.body))).toMatch(/outlier_threshold/);
    // Nothing changed.
    expect((JSON.parse((await json(t.app, 'GET', '/instances/default/config')).body) as { outlier_threshold: unknown }).outlier_threshold).toBe(2.5);
    const create = await json(t.app, 'POST', '/instances/bad', { outlier_threshold: v });
    expect(create.statusCode).toBe(422);
    expect(JSON.stringify(JSON.parse(create.body))).toMatch(/outlier_threshold/);
    expect((await json(t.app, 'GET', '/instances/bad/config')).statusCode).toBe(404);
  });

  it.each([2.5, 1e-7, 3, 0.1 + 0.2, null, Number.MAX_VALUE])('%j is kept exactly', async (v) => {
    const put = await json(t.app, 'PUT', '/instances/default/config', { outlier_threshold: v });
    expect(put.statusCode, put.body).toBe(200);
    expect((JSON.parse((await json(t.app, 'GET', '/instances/default/config')).body) as { outlier_threshold: unknown }).outlier_threshold).toBe(v);
  });
});
