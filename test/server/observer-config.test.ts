import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const PCT = { name: 'percentile', options: { minPercentile: 2, maxPercentile: 98 } };
const data = [Array.from({ length: 200 }, (_, i) => Math.sin(i * 1.3) + (i === 50 ? 30 : 0))];

describe('the observer field over HTTP', () => {
  it('is taken on create, served back, used by calibrate and kept across a restart', async () => {
    const created = await json(t.app, 'POST', '/instances/obs', { quantization_mode: 'CALIBRATED', observer: PCT });
    expect(created.statusCode, created.body).toBe(200);
    expect((await json(t.app, 'GET', '/instances/obs/config')).json().observer).toEqual(PCT);
    const c = await json(t.app, 'POST', '/instances/obs/calibrate', { data });
    expect(c.statusCode, c.body).toBe(200);
    expect(c.json()).toMatchObject({ method: 'percentile' });
    // The 2nd and 98th percentiles leave the outlier at 30 out of the range.
    expect(c.json().max).toBeLessThan(2);
    await t.app.close();
    t = await testApp({}, t.dir);
    expect((await json(t.app, 'GET', '/instances/obs/config')).json().observer).toEqual(PCT);
    expect((await json(t.app, 'PUT', '/instances/obs/config', { observer: null })).statusCode).toBe(200);
    expect((await json(t.app, 'GET', '/instances/obs/config')).json().observer).toBeNull();
  });

  it.each([
    // The HTTP schema is generated from the engine's: the name is refused where it is, with the names allowed.
    [{ name: 'kl' }, 'must be equal to one of the allowed values: "minmax", "moving-average", "percentile", "mse", "entropy", "outlier", "fixed"'],
    [{ name: 'percentile', options: { maxPercentile: 101 } }, 'maxPercentile must be a number in [0, 100], got 101'],
    [{ name: 'fixed' }, 'fixed observer min must be a finite number'],
    [{ options: {} }, 'observer'],
    ['mse', 'observer'],
  ])('%j is a 422 naming the field, and changes nothing', async (observer, detail) => {
    const put = await json(t.app, 'PUT', '/instances/default/config', { observer });
    expect(put.statusCode, put.body).toBe(422);
    expect(JSON.stringify(put.json())).toContain(detail.replaceAll('"', '\\"'));
    expect((await json(t.app, 'GET', '/instances/default/config')).json().observer).toBeNull();
  });
});
