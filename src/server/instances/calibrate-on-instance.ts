import type { FastifyInstance } from 'fastify';
import type { CalibrateOptions } from '../../engine/quantizer.js';
import { Quantizer } from '../../engine/quantizer.js';
import { parametersWith } from '../offload/parameter-changes.js';
import type { Instance } from './instance-registry.js';
import { calibrationAnswer } from './calibration-answer.js';

/**
 * Calibrates an instance from `batches` batches of batchShape laid end to end in x; call it inside
 * the instance's queue. The calibration runs on a copy (the offload worker's from
 * offloadThreshold elements, else here on a quantizer of the instance's config alone, since a
 * calibration does not read the parameters it replaces, yielding between batches so GET / and other
 * instances keep answering); its parameters and the answer are written in one statement and only
 * then taken on, so a write that fails (a full disk) leaves the instance as it was. Either way
 * the instance's statistics count the calibration's processing time. Returns the answer, which is
 * then the instance's lastCalibration.
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
    const done = await app.offloader.calibrate(inst, x, batchShape, batches, options);
    const answer = calibrationAnswer(done.value, new Date());
    await app.registry.recordCalibration(inst, done.parametersAfter(), answer, () => done.commit());
    return answer;
  }
  const per = x.length / batches;
  const views = Array.from({ length: batches }, (_, b) => ({ data: x.subarray(b * per, (b + 1) * per), shape: batchShape }));
  const copy = new Quantizer(q.getConfig());
  const report = await copy.calibrateAsync(views, options);
  const answer = calibrationAnswer(report, new Date());
  // The copy holds the one calibrated entry: the instance takes on that, not every layer again.
  await app.registry.recordCalibration(inst, parametersWith(q.parameterState(), copy.parameterState()), answer, () => q.mergeParameters(copy.exportParameters()));
  // The calibration's processing time, as if it had run on the instance itself.
  q.applyCopyEffects({ stats: copy.getStats() });
  return answer;
}
