import type { FastifyInstance } from 'fastify';
import type { UploadAnswer, UploadWork } from '../offload/offload-upload.js';
import type { Instance } from './instance-registry.js';

/**
 * An upload_numpy's whole array work (conversion, the operation, ranges, error figures, the
 * answer's .npy) in the offload worker on its copy of the instance; call it inside the instance's
 * queue. A requantization is written before the instance takes the call on, so a write that
 * fails (a full disk) leaves the instance as it was. The worker takes the .npy data's buffer.
 */
export async function uploadOnInstance(app: FastifyInstance, inst: Instance, work: UploadWork): Promise<UploadAnswer> {
  const done = await app.offloader.upload(inst, work);
  if (done.value.requantized) await app.registry.save(inst, inst.quantizer.getConfig(), done.parametersAfter());
  done.commit();
  return done.value;
}
