// What the offload tests run on an inline app and on a worker app, to compare: the instances, the
// data, and the state of an instance afterwards.
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';

/** Nested rows of `cols` values from flat data. */
export const rows = (x: ArrayLike<number>, cols: number) => Array.from({ length: x.length / cols }, (_, r) => Array.from(x).slice(r * cols, (r + 1) * cols));

// 4x6 values in about [-2, 2], the same with outliers (which requantize a calibrated instance), and codes valid for every dtype.
export const X = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 0.7) * 2);
export const XL = X.map((v, i) => (i % 5 === 0 ? v * 9 : v));
export const CODES = Int16Array.from({ length: 24 }, (_, i) => (i * 37) % 101);

/** Every kind of instance whose state an offloaded call changes differently. */
export const INSTANCES: Record<string, object> = {
  dyn: {},
  pc: { quantization_mode: 'PER_CHANNEL', channel_dim: 1 },
  cal: { quantization_mode: 'CALIBRATED', enable_requantization: true, requantization_threshold: 0.001 },
  calpc: { quantization_mode: 'CALIBRATED', quantization_type: 'UINT8', per_channel: true, channel_dim: 0, enable_requantization: true, requantization_threshold: 0.001 },
  f16: { quantization_type: 'FLOAT16', error_on_nan: false },
  uncal: { quantization_mode: 'CALIBRATED' },
};

/** An instance's statistics (without the time, which differs by nature) and its parameters as sent. */
export async function stateOf(app: FastifyInstance, id: string) {
  const stats = (await app.inject({ method: 'GET', url: `/instances/${id}/stats` })).json() as Record<string, unknown>;
  expect(typeof stats.processing_time_ms).toBe('number');
  delete stats.processing_time_ms;
  const parameters = (await app.inject({ method: 'GET', url: `/instances/${id}/parameters` })).rawPayload.toString();
  return { stats, parameters };
}

/**
 * Creates every instance of INSTANCES on `app` (the calibrated ones calibrated on small batches, so
 * that stays inline), runs `scenario` on each: the answers in order, and each instance's state after.
 */
export async function runOnInstances<T>(app: FastifyInstance, scenario: (id: string) => Promise<T[]>) {
  const answers: T[] = [];
  const states: Record<string, unknown> = {};
  for (const [id, config] of Object.entries(INSTANCES)) {
    const created = await app.inject({ method: 'POST', url: `/instances/${id}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(config) });
    expect(created.statusCode).toBe(200);
    if (id.startsWith('cal')) {
      const body = JSON.stringify({ data: [rows(X, 6), rows(X.map((v) => v * 0.5), 6)] });
      const cal = await app.inject({ method: 'POST', url: `/instances/${id}/calibrate`, headers: { 'content-type': 'application/json' }, payload: body });
      expect(cal.statusCode).toBe(200);
    }
    answers.push(...(await scenario(id)));
    states[id] = await stateOf(app, id);
  }
  return { answers, states };
}
