import { expect, test } from 'vitest';
import { QuantError } from '../core/errors.js';
import { quantize } from '../core/quantize.js';
import { createRng } from '../core/random.js';
import { Quantizer } from './quantizer.js';

function batch(seed: number, spread: number): { data: Float32Array; shape: number[] } {
  const rng = createRng(seed);
  return { data: Float32Array.from({ length: 256 }, () => (rng() * 2 - 1) * spread), shape: [16, 16] };
}

async function* slowBatches(n: number): AsyncGenerator<{ data: Float32Array; shape: number[] }> {
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 0));
    yield batch(i, 1 + i);
  }
}

test('quantize calls interleaved with calibrateAsync always report the parameters their codes were made with', async () => {
  const q = new Quantizer({ quantizationMode: 'CALIBRATED', enableRequantization: true, requantizationThreshold: 0.05 });
  q.calibrate([batch(100, 0.5)]);
  const seen = new Set<number>();
  let checked = 0;
  let running = true;
  const hammer = (async () => {
    let i = 0;
    while (running) {
      const x = batch(1000 + i++, 3);
      const r = q.quantize(x);
      const want = quantize(x.data, x.shape, { params: r.params! }).codes;
      expect(Array.from(r.codes)).toEqual(Array.from(want));
      seen.add(r.params!.scale[0]);
      checked++;
      await new Promise((res) => setImmediate(res));
    }
  })();
  const reports = await Promise.all([q.calibrateAsync(slowBatches(12)), q.calibrateAsync([batch(7, 9), batch(8, 9)])]);
  running = false;
  await hammer;
  expect(checked).toBeGreaterThan(10);
  // The parameters changed while the quantize calls ran (calibrations and requantizations).
  expect(seen.size).toBeGreaterThan(1);
  expect(reports[0].batches).toBe(12);
  expect(q.getStats().quantizeCalls).toBe(checked);
});

test('calibrateAsync yields to the event loop between batches and swaps its result in only at the end', async () => {
  const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
  q.calibrate([batch(1, 1)]);
  const before = q.getParameters().active!.scale[0];
  const pending = q.calibrateAsync([batch(2, 50), batch(3, 50), batch(4, 50)]);
  let ticks = 0;
  while (q.getParameters().active!.scale[0] === before) {
    ticks++;
    await new Promise((r) => setImmediate(r));
    if (ticks > 100) break;
  }
  const report = await pending;
  expect(ticks).toBeGreaterThanOrEqual(2);
  expect(q.getParameters().active!.scale[0]).toBe(report.scale);
});

test('a config change during calibrateAsync discards its result; a bad batch rejects with state unchanged', async () => {
  const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
  q.calibrate([batch(1, 1)]);
  const before = q.getParameters();
  const pending = q.calibrateAsync([batch(2, 50), batch(3, 50)]);
  q.updateConfig({ symmetric: true });
  await expect(pending).rejects.toThrow(/config changed while calibrateAsync ran/);
  const after = q.getParameters();
  await expect(q.calibrateAsync([batch(2, 50), { data: new Float32Array(4), shape: [2, 2] }])).rejects.toBeInstanceOf(QuantError);
  expect(q.getParameters()).toEqual(after);
  expect(after.active!.symmetric).toBe(true);
  expect(before.active!.symmetric).toBe(false);
});
