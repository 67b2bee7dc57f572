import type { FastifyInstance } from 'fastify';
import type { ScaleAndZeroPoint } from '../../engine/quantizer.js';
import type { OffloadComputeParams } from '../offload/offload-protocol.js';
import type { Instance } from './instance-registry.js';

/**
 * The scale and zero point the instance would choose for x (one channel's with channelIdx),
 * without quantizing; call it inside the instance's queue. From offloadThreshold elements it runs
 * in the offload worker on its copy of the instance, smaller ones here (no promise). It changes no
 * state. The worker takes x's buffer.
 */
export function computeParamsOnInstance(
  app: FastifyInstance,
  inst: Instance,
  x: Float32Array,
  shape: number[],
  channelIdx: number | null,
  options: OffloadComputeParams['options'],
): ScaleAndZeroPoint | Promise<ScaleAndZeroPoint> {
  if (app.offloader.shouldOffload(x.length)) {
    return app.offloader.computeParams(inst, x, shape, channelIdx, options).then((done) => {
      done.commit();
      return done.value;
    });
  }
  return inst.quantizer.computeScaleAndZeroPoint({ data: x, shape }, channelIdx, options);
}
