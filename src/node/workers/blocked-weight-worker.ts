// Entry point of a BlockedWeightPool worker: runs one quantizeBlockedWeight job per message and
// posts the result back with its arrays transferred.
import { parentPort } from 'node:worker_threads';
import { jobErrorOf, runBlockedWeightJob } from '../../onnx/modes/weight-only/blocked-weight-job.js';
import type { BlockedWeightReply, BlockedWeightRequest } from './blocked-weight-pool.js';
import { transferablesOf } from './blocked-weight-pool.js';

const port = parentPort;
if (!port) throw new Error('blocked-weight-worker must run as a worker thread');

port.on('message', (req: BlockedWeightRequest) => {
  let reply: BlockedWeightReply;
  try {
    const result = runBlockedWeightJob(req.job);
    reply = { id: req.id, result };
  } catch (e) {
    reply = { id: req.id, error: jobErrorOf(e) };
  }
  port.postMessage(reply, 'result' in reply && reply.result ? transferablesOf(reply.result) : []);
});
