import type { FastifyInstance } from 'fastify';
import type { Instance } from '../instance-registry.js';
import type { OffloadQuantize, OffloadResults } from '../offload-protocol.js';
import { snapshotOf } from './instance-snapshot.js';

type QuantizeOp = OffloadQuantize['op'];

/**
 * A quantize or quantize_dequantize of x on an instance; call it inside the instance's queue.
 * Arrays of offloadThreshold elements or more run in the offload worker on a snapshot, and the
 * instance takes on the call's effects when it answers; smaller ones run here and answer at once
 * (no promise). Either way a requantization is saved before the answer, so a kill -9 keeps it.
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
): OffloadResults[Op]['result'] | Promise<OffloadResults[Op]['result']> {
  const q = inst.quantizer;
  const saved = (r: OffloadResults[Op]['result']) => {
    if (r.requantized) app.registry.persist(inst);
    return r;
  };
  if (app.offloader.shouldOffload(x.length)) {
    return app.offloader.quantize(op, snapshotOf(q), keepInput ? x.slice() : x, shape, options).then(({ result, effects }) => {
      q.applyCopyEffects(effects);
      return saved(result);
    });
  }
  const data = { data: x, shape };
  return saved((op === 'quantize' ? q.quantize(data, options) : q.quantizeDequantize(data, options)) as OffloadResults[Op]['result']);
}
