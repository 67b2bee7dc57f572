import { QuantError } from '../errors.js';
import { histogramWasmBytes } from '../kernels/histogram-wasm.generated.js';
import type { HistogramKernel } from './histogram-kernel.js';
import { binScale } from './histogram-kernel.js';

/**
 * Values staged per call: the caller's array lives in the JS heap, so each chunk is copied into
 * linear memory first. 16 Ki float32 (64 KiB) stays in L2 next to the sub-histograms (4 · bins
 * u32, 32 KiB for 2048 bins) and makes the per-call overhead negligible.
 */
const CHUNK = 16384;

interface HistogramExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  histogram(x: number, n: number, lo: number, scale: number, bins: number, hist: number): void;
}

/** The instance, its staging area and the views over its memory (rebuilt when memory grows). */
class Runtime {
  readonly ex: HistogramExports;
  readonly xPtr: number;
  readonly histPtr: number;
  private bins = 0;
  private stage = new Float32Array(0);
  private subs = new Uint32Array(0);

  constructor(ex: HistogramExports) {
    this.ex = ex;
    this.xPtr = ex.heapBase();
    this.histPtr = this.xPtr + CHUNK * 4;
  }

  /** Views for `bins` bins, growing memory if needed; the sub-histograms come back zeroed. */
  prepare(bins: number): { stage: Float32Array; subs: Uint32Array } {
    const mem = this.ex.memory;
    const need = this.histPtr + 16 * bins;
    if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
    if (this.stage.buffer !== mem.buffer || this.bins !== bins) {
      this.stage = new Float32Array(mem.buffer, this.xPtr, CHUNK);
      this.subs = new Uint32Array(mem.buffer, this.histPtr, 4 * bins);
      this.bins = bins;
    }
    this.subs.fill(0);
    return { stage: this.stage, subs: this.subs };
  }
}

let runtime: Runtime | undefined;
let unavailable: unknown;

function getRuntime(): Runtime {
  if (runtime) return runtime;
  if (unavailable !== undefined) throw new QuantError('UNSUPPORTED', 'WebAssembly SIMD is not available in this runtime', { cause: unavailable });
  try {
    // Synchronous compile: the module is about 0.5 KiB, so this is allowed even on a browser's main thread.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(histogramWasmBytes()), {});
    runtime = new Runtime(instance.exports as unknown as HistogramExports);
    return runtime;
  } catch (e) {
    unavailable = e;
    throw new QuantError('UNSUPPORTED', 'WebAssembly SIMD is not available in this runtime', { cause: e });
  }
}

/** Whether this runtime can instantiate the SIMD binning kernel (compiles it on first call). */
export function histogramWasmAvailable(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  try {
    getRuntime();
    return true;
  } catch {
    return false;
  }
}

/** The WebAssembly SIMD binning kernel: the reference's rule, four sub-histograms, summed into counts. */
export const wasmHistogramKernel: HistogramKernel = {
  name: 'wasm-simd',
  histogram(x, lo, hi, counts) {
    const bins = counts.length;
    if (!(hi > lo)) {
      counts[0] += x.length;
      return;
    }
    const rt = getRuntime();
    const { stage, subs } = rt.prepare(bins);
    const scale = binScale(lo, hi, bins);
    for (let i = 0; i < x.length; i += CHUNK) {
      const chunk = x.subarray(i, Math.min(i + CHUNK, x.length));
      stage.set(chunk);
      rt.ex.histogram(rt.xPtr, chunk.length, lo, scale, bins, rt.histPtr);
    }
    for (let b = 0; b < bins; b++) counts[b] += subs[b] + subs[bins + b] + subs[2 * bins + b] + subs[3 * bins + b];
  },
};
