import type { Kernels } from './contract.js';
import { referenceKernels } from './reference.js';
import { wasmAvailable, wasmKernels } from './wasm.js';

export type { Kernels } from './contract.js';
export { referenceKernels } from './reference.js';
export { setWasmScratch, wasmAvailable, wasmKernels, wasmScratchBytes, wasmZeroCopy } from './wasm.js';
export type { WasmArena } from './wasm-arena.js';
export { createWasmArena } from './wasm-arena.js';
export { attachWasmMemory, isWasmArray, sharedWasmMemory, wasmView } from './wasm-memory.js';

let active: Kernels | undefined;

/** The kernels the library uses: WebAssembly SIMD where the runtime has it, else the reference. */
export function getKernels(): Kernels {
  active ??= wasmAvailable() ? wasmKernels : referenceKernels;
  return active;
}

/** Replaces the kernels the library uses (tests, or a runtime that provides its own). */
export function setKernels(kernels: Kernels): void {
  active = kernels;
}
