// Entry point of a KernelPool worker: runs one kernel over its slice of shared buffers per message.
import { parentPort } from 'node:worker_threads';
import { getKernels } from '../core/kernels/index.js';
import type { WorkerRequest, WorkerReply } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('kernel-worker must run as a worker thread');

port.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    run(req);
    reply = { id: req.id };
  } catch (e) {
    reply = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});

function run(req: WorkerRequest): void {
  const k = getKernels();
  const { from, to, start, layout } = req;
  switch (req.op) {
    case 'minMax': {
      // This worker's own running min/max over the parameter window its slice can touch.
      req.min.fill(Infinity, req.lo, req.hi);
      req.max.fill(-Infinity, req.lo, req.hi);
      k.minMax(req.x.subarray(from, to), layout, req.min, req.max, start + from, req.finiteOnly);
      return;
    }
    case 'quantize':
      k.quantize(req.x.subarray(from, to), layout, req.scale, req.zeroPoint, req.qmin, req.qmax, req.out.subarray(from, to), start + from);
      return;
    case 'fakeQuantize':
      k.fakeQuantize(req.x.subarray(from, to), layout, req.scale, req.zeroPoint, req.qmin, req.qmax, req.out.subarray(from, to), start + from);
      return;
    case 'dequantize':
      k.dequantize(req.q.subarray(from, to), layout, req.scale, req.zeroPoint, req.out.subarray(from, to), start + from);
      return;
  }
}
