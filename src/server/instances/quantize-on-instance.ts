import type { FastifyInstance } from 'fastify';
import type { Instance } from './instance-registry.js';
import type { OffloadQuantize, OffloadValues } from '../offload/offload-protocol.js';

type QuantizeOp = OffloadQuantize['op'];

/**
 * A quantize or quantize_dequantize of x on an instance; call it inside the instance's queue.
 * Arrays of offloadThreshold elements or more run in the offload worker on its copy of the
 * instance, and the instance takes on the call's effects when it answers; smaller ones run here and answer at once
 * (no promise). Either way a requantization is saved before the answer, so a kill -9 keeps it,
 * and a save that fails (a full disk) throws with the instance's parameters as they were.
 * The worker takes x's buffer unless `keepInput` (then it gets a copy).
 */
export function quantizeOnInstance<Op extends QuantizeOp>(
  app: FastifyInstance,
  inst: Instance,
  op: Op,
  x: Float32Array,
  shape: number[],
  options: OffloadQuantize['options'],
  keepInput = false,
): OffloadValues[Op] | Promise<OffloadValues[Op]> {
  const q = inst.quantizer;
  if (app.offloader.shouldOffload(x.length)) {
    return app.offloader.quantize(op, inst, keepInput ? x.slice() : x, shape, options).then(async (done) => {
      // Written first, taken on after: a failed write leaves the instance untouched.
      if (done.value.requantized) await app.registry.save(inst, q.getConfig(), done.parametersAfter());
      done.commit();
      return done.value;
    });
  }
  const cfg = q.getConfig();
  // Only a CALIBRATED instance with requantization on can change saved state here; its parameters
  // before the call are kept to put back should the save fail. The call and the save run in one
  // synchronous step, so nothing ever sees the widened parameters unsaved. (Its statistics count
  // the call either way: they are counts of calls made, not saved state.) The save is awaited before
  // the answer; until it lands, only this instance's queue waits.
  const before = cfg.quantizationMode === 'CALIBRATED' && cfg.enableRequantization ? q.exportParameters() : null;
  const data = { data: x, shape };
  const r = (op === 'quantize' ? q.quantize(data, options) : q.quantizeDequantize(data, options)) as OffloadValues[Op];
  if (r.requantized) {
    return app.registry.persist(inst).then(
      () => r,
      (e: unknown) => {
        if (before !== null) q.importParameters(before);
        throw e;
      },
    );
  }
  return r;
}
