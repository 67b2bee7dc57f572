// Entry point of a KernelPool worker: attaches the pool's shared WebAssembly memory once, then runs
// one kernel per message in place on the addresses it names.
import { parentPort, workerData } from 'node:worker_threads';
import { attachWasmMemory, getKernels, setWasmScratch } from '../../core/kernels/index.js';
import { runKernelRequest } from './run-kernel-request.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('kernel-worker must run as a worker thread');
const init = workerData as WorkerInit;
attachWasmMemory(init.memory);
setWasmScratch(init.scratchPtr, init.scratchBytes);
const kernels = getKernels();

port.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    if (req.scratch) setWasmScratch(req.scratch.ptr, req.scratch.bytes);
    runKernelRequest(kernels, req);
    reply = { id: req.id };
  } catch (e) {
    reply = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
