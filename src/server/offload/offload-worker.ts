// Entry point of the Offloader's worker thread: runs heavy Quantizer work on instance snapshots.
import { parentPort } from 'node:worker_threads';
import { isQuantError } from '../../core/errors.js';
import type { CopyEffects } from '../../engine/quantizer.js';
import { Quantizer } from '../../engine/quantizer.js';
import { installUninitializedOutputs } from '../../node/uninitialized-outputs.js';
import type { OffloadOp, OffloadReply, OffloadRequest, OffloadResults } from './offload-protocol.js';
import { resultTransferList } from './offload-protocol.js';
import { runUpload } from './offload-upload.js';

const port = parentPort;
if (!port) throw new Error('offload-worker must run as a worker thread');
// Outputs are transferred to the main thread whole, so they get buffers of their own anyway.
installUninitializedOutputs();

function copyOf(req: OffloadRequest): Quantizer {
  const q = new Quantizer(req.config);
  if (req.parameters !== null && req.parameters !== undefined) q.importParameters(req.parameters);
  return q;
}

function run(req: OffloadRequest): OffloadResults[OffloadOp] {
  const q = copyOf(req);
  switch (req.op) {
    case 'calibrate': {
      const size = req.x.length / req.batches;
      const batches = Array.from({ length: req.batches }, (_, b) => ({ data: req.x.subarray(b * size, (b + 1) * size), shape: req.batchShape }));
      const report = q.calibrate(batches, req.options);
      return { report, parameters: q.exportParameters() };
    }
    case 'quantize': {
      const result = q.quantize({ data: req.x, shape: req.shape }, req.options);
      const effects: CopyEffects = { parameters: q.exportParameters(), stats: q.getStats() };
      return { result, effects };
    }
    case 'quantize_dequantize': {
      const result = q.quantizeDequantize({ data: req.x, shape: req.shape }, req.options);
      const effects: CopyEffects = { parameters: q.exportParameters(), stats: q.getStats() };
      return { result, effects };
    }
    case 'dequantize': {
      const result = q.dequantize({ data: req.codes, shape: req.shape }, req.options);
      // Dequantize changes no parameters: only its counts go back.
      return { result, effects: { stats: q.getStats() } };
    }
    case 'compute_params':
      return { result: q.computeScaleAndZeroPoint({ data: req.x, shape: req.shape }, req.channelIdx, req.options) };
    case 'upload':
      return runUpload(q, req);
  }
}

port.on('message', (req: OffloadRequest) => {
  let reply: OffloadReply;
  try {
    reply = { id: req.id, ok: true, value: run(req) };
  } catch (e) {
    const err = e as Error;
    reply = { id: req.id, ok: false, error: { name: err.name, code: isQuantError(e) ? e.code : undefined, message: err.message, details: isQuantError(e) ? e.details : undefined } };
  }
  // Result arrays go back by transfer (the input's buffer too when a pass-through returns it).
  port.postMessage(reply, reply.ok ? resultTransferList(reply.value) : []);
});
