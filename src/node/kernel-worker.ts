// Entry point of a KernelPool worker: attaches the pool's shared WebAssembly memory once, then runs
// one kernel per message in place on the addresses it names.
import { parentPort, workerData } from 'node:worker_threads';
import type { CodeArray } from '../core/dtypes.js';
import { attachWasmMemory, getKernels, setWasmScratch, wasmView } from '../core/kernels/index.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('kernel-worker must run as a worker thread');
const init = workerData as WorkerInit;
attachWasmMemory(init.memory);
setWasmScratch(init.scratchPtr, init.scratchBytes);
const kernels = getKernels();

const CODE_VIEWS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array } as const;

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
  if (req.scratch) setWasmScratch(req.scratch.ptr, req.scratch.bytes);
  const { layout, start, n, params } = req;
  switch (req.op) {
    case 'minMax': {
      const min = wasmView(Float32Array, req.min, params);
      const max = wasmView(Float32Array, req.max, params);
      kernels.minMax(wasmView(Float32Array, req.x, n), layout, min, max, start, req.finiteOnly);
      return;
    }
    case 'quantize': {
      const out = wasmView(CODE_VIEWS[req.storage] as typeof Uint8Array, req.out, n) as CodeArray;
      kernels.quantize(wasmView(Float32Array, req.x, n), layout, wasmView(Float32Array, req.scale, params), wasmView(Int32Array, req.zeroPoint, params), req.qmin, req.qmax, out, start);
      return;
    }
    case 'fakeQuantize':
      kernels.fakeQuantize(
        wasmView(Float32Array, req.x, n),
        layout,
        wasmView(Float32Array, req.scale, params),
        wasmView(Int32Array, req.zeroPoint, params),
        req.qmin,
        req.qmax,
        wasmView(Float32Array, req.out, n),
        start,
      );
      return;
    case 'dequantize': {
      const q = wasmView(CODE_VIEWS[req.storage] as typeof Uint8Array, req.q, n) as CodeArray;
      kernels.dequantize(q, layout, wasmView(Float32Array, req.scale, params), wasmView(Int32Array, req.zeroPoint, params), wasmView(Float32Array, req.out, n), start);
      return;
    }
  }
}
