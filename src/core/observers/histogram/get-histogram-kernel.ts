import type { HistogramKernel } from './histogram-kernel.js';
import { referenceHistogramKernel } from './histogram-kernel.js';
import { histogramWasmAvailable, wasmHistogramKernel } from './histogram-wasm.js';

let active: HistogramKernel | undefined;

/** The binning kernel the observers use: WebAssembly SIMD where the runtime has it, else the reference. */
export function getHistogramKernel(): HistogramKernel {
  active ??= histogramWasmAvailable() ? wasmHistogramKernel : referenceHistogramKernel;
  return active;
}

/** Replaces the binning kernel the observers use (tests, or a runtime that provides its own). */
export function setHistogramKernel(kernel: HistogramKernel): void {
  active = kernel;
}
