// Entry point of the Offloader's worker thread: runs heavy Quantizer work on instance snapshots.
import { parentPort } from 'node:worker_threads';
import { isQuantError } from '../core/errors.js';
import { Quantizer } from '../engine/quantizer.js';
import type { OffloadCalibrate, OffloadReply } from './offload-protocol.js';

const port = parentPort;
if (!port) throw new Error('offload-worker must run as a worker thread');

port.on('message', (req: OffloadCalibrate) => {
  let reply: OffloadReply;
  try {
    const q = new Quantizer(req.config);
    if (req.parameters !== null && req.parameters !== undefined) q.importParameters(req.parameters);
    const size = req.x.length / req.batches;
    const batches = Array.from({ length: req.batches }, (_, b) => ({ data: req.x.subarray(b * size, (b + 1) * size), shape: req.batchShape }));
    const report = q.calibrate(batches, req.options);
    reply = { id: req.id, ok: true, report, parameters: q.exportParameters() };
  } catch (e) {
    const err = e as Error;
    reply = { id: req.id, ok: false, error: { name: err.name, code: isQuantError(e) ? e.code : undefined, message: err.message } };
  }
  port.postMessage(reply);
});
