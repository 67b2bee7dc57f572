import { histogramInto, wasmAvailable } from '../../kernels/wasm.js';
import type { HistogramKernel } from './histogram-kernel.js';

/** Whether this runtime can run the SIMD binning kernel (it is part of the kernels module: compiles it on first call). */
export function histogramWasmAvailable(): boolean {
  return wasmAvailable();
}

/**
 * The WebAssembly SIMD binning kernel (histogramInto of the kernels module): the reference's rule,
 * four sub-histograms summed into counts. It shares the kernels' memory, so an x that lives in
 * WebAssembly memory (an arena array, or the copy a histogram observer stages) is binned in place.
 */
export const wasmHistogramKernel: HistogramKernel = {
  name: 'wasm-simd',
  histogram: histogramInto,
};
