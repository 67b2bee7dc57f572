import type { FastifyInstance } from 'fastify';
import type { CalibrateOptions } from '../../engine/quantizer.js';
import type { Instance } from './instance-registry.js';
import { scratchCopy } from './instance-registry.js';
import { calibrationAnswer } from './calibration-answer.js';

/**
 * Calibrates an instance from `batches` batches of batchShape laid end to end in x; call it inside
 * the instance's queue. The calibration runs on a copy (in the offload worker from
 * offloadThreshold elements, else here, yielding between batches so GET / and other instances
 * keep answering); its parameters and the answer are written in one statement and only then
 * taken on, so a write that fails (a full disk) leaves the instance as it was. Returns the answer,
 * which is then the instance's lastCalibration.
 */
export async function calibrateOnInstance(
  app: FastifyInstance,
  inst: Instance,
  x: Float32Array,
  batchShape: number[],
  batches: number,
  options: CalibrateOptions,
): Promise<Record<string, unknown>> {
  const q = inst.quantizer;
  if (app.offloader.shouldOffload(x.length)) {
    const done = await app.offloader.calibrate(q.getConfig(), q.exportParameters(), x, batchShape, batches, options);
    const answer = calibrationAnswer(done.report, new Date());
    await app.registry.recordCalibration(inst, done.parameters, answer);
    return answer;
  }
  const per = x.length / batches;
  const views = Array.from({ length: batches }, (_, b) => ({ data: x.subarray(b * per, (b + 1) * per), shape: batchShape }));
  const copy = scratchCopy(q);
  const report = await copy.calibrateAsync(views, options);
  const answer = calibrationAnswer(report, new Date());
  await app.registry.recordCalibration(inst, copy.exportParameters(), answer);
  // The calibration's processing time, as if it had run on the instance itself.
  q.applyCopyEffects({ stats: copy.getStats() });
  return answer;
}
