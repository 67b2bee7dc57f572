import type { FastifyInstance } from 'fastify';
import type { DequantizeResult } from '../../engine/quantizer.js';
import type { OffloadDequantize } from '../offload/offload-protocol.js';
import type { Instance } from './instance-registry.js';

/**
 * A dequantize of integer codes (the numbers a route parsed) on an instance; call it inside the
 * instance's queue. From offloadThreshold elements it runs in the offload worker on its copy of the
 * instance, which then counts the call as inline; smaller ones run here and answer at once (no
 * promise). It changes no parameters, so nothing is written. The worker takes the codes' buffer.
 */
export function dequantizeOnInstance(
  app: FastifyInstance,
  inst: Instance,
  codes: Float32Array | Float64Array,
  shape: number[],
  options: OffloadDequantize['options'],
): DequantizeResult | Promise<DequantizeResult> {
  if (app.offloader.shouldOffload(codes.length)) {
    return app.offloader.dequantize(inst, codes, shape, options).then((done) => {
      done.commit();
      return done.value;
    });
  }
  return inst.quantizer.dequantize({ data: codes, shape }, options);
}
