import type { CodeArray } from '../../core/dtypes.js';
import { codeArrayConstructor } from '../../core/dtypes.js';
import type { Kernels } from '../../core/kernels/contract.js';
import { wasmView } from '../../core/kernels/index.js';
import type { WorkerRequest } from './worker-protocol.js';

/**
 * Runs one KernelPool request in place on the shared WebAssembly memory: views at the addresses it
 * names, then the ordinary kernel with the request's (rebased) layout and start. The same code
 * serves the workers and the calling thread's own slice, so every slice is computed alike.
 */
export function runKernelRequest(kernels: Kernels, req: WorkerRequest): void {
  const { layout, start, n, params } = req;
  switch (req.op) {
    case 'minMax':
      kernels.minMax(wasmView(Float32Array, req.x, n), layout, wasmView(Float32Array, req.min, params), wasmView(Float32Array, req.max, params), start, req.finiteOnly);
      return;
    case 'quantize': {
      const out = wasmView(codeArrayConstructor(req.storage), req.out, n) as CodeArray;
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
      const q = wasmView(codeArrayConstructor(req.storage), req.q, n) as CodeArray;
      kernels.dequantize(q, layout, wasmView(Float32Array, req.scale, params), wasmView(Int32Array, req.zeroPoint, params), wasmView(Float32Array, req.out, n), start);
      return;
    }
  }
}
