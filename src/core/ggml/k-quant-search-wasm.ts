// makeQkxQuants and makeQxQuants in WebAssembly (src/core/kernels/assembly/ggml-k-quants.ts): the K-quant scale
// searches are the whole cost of the K-quants, and wasm's native f32 arithmetic runs it without
// a Math.fround after every operation. Same signature and same bits as the TypeScript reference
// in k-quant-search.ts (a property test holds them equal; the golden tests hold both to ggml).
import { ggmlKQuantsWasmBytes } from '../kernels/ggml-k-quants-wasm.generated.js';

interface KQuantsExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  makeQkxQuants(n: number, nmax: number, rmin: number, rdelta: number, nstep: number, useMad: number): number;
  makeQxQuants(n: number, nmax: number, weighted: number): number;
}

let instance:
  | { exports: KQuantsExports; x: Float32Array; w: Float32Array; L: Uint8Array; Li: Int8Array; min: Float32Array }
  | undefined;

function kernels(): NonNullable<typeof instance> {
  if (instance) return instance;
  const exports = new WebAssembly.Instance(new WebAssembly.Module(ggmlKQuantsWasmBytes())).exports as unknown as KQuantsExports;
  const base = exports.heapBase();
  const need = base + 2564;
  if (exports.memory.buffer.byteLength < need) exports.memory.grow(Math.ceil((need - exports.memory.buffer.byteLength) / 65536));
  // The module never grows its memory itself, so these views stay attached.
  const buf = exports.memory.buffer;
  instance = {
    exports,
    x: new Float32Array(buf, base, 256),
    w: new Float32Array(buf, base + 1024, 256),
    L: new Uint8Array(buf, base + 2048, 256),
    Li: new Int8Array(buf, base + 2048, 256),
    min: new Float32Array(buf, base + 2560, 1),
  };
  return instance;
}

/** {@link makeQkxQuants} of k-quant-search.ts, run in WebAssembly; n ≤ 256. */
export function makeQkxQuantsWasm(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array,
  L: Uint8Array, lo: number, minOut: Float32Array, mo: number, _Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number, useMad: boolean,
): number {
  const k = kernels();
  k.x.set(x.subarray(xo, xo + n));
  k.w.set(weights.subarray(0, n));
  const scale = k.exports.makeQkxQuants(n, nmax, rmin, rdelta, nstep, useMad ? 1 : 0);
  L.set(k.L.subarray(0, n), lo);
  minOut[mo] = k.min[0];
  return scale;
}

/** {@link makeQxQuants} of k-quant-search.ts, run in WebAssembly; n ≤ 256. */
export function makeQxQuantsWasm(
  n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number, qw: Float32Array | null, qo: number,
): number {
  const k = kernels();
  k.x.set(x.subarray(xo, xo + n));
  if (qw) k.w.set(qw.subarray(qo, qo + n));
  const scale = k.exports.makeQxQuants(n, nmax, qw ? 1 : 0);
  L.set(k.Li.subarray(0, n), lo);
  return scale;
}
