import { setUninitializedAllocator } from '../core/output-array.js';

/**
 * Lets the core allocate large outputs without zeroing them (core/output-array.ts):
 * Buffer.allocUnsafeSlow malloc()s a buffer of its own (never a slice of Node's shared pool, so it
 * starts at offset 0 and every element type is aligned) and does not clear it. Called by quantkit's
 * Node entry points: the package's "node" exports, the CLI and the service.
 */
export function installUninitializedOutputs(): void {
  setUninitializedAllocator((bytes) => Buffer.allocUnsafeSlow(bytes));
}
