// GptqKernels in WebAssembly (src/core/kernels/assembly/gptq.ts): the same operations in the same
// order as the TypeScript reference, with f64x2 SIMD and blocks of rows sharing their loads.
import { QuantError } from '../errors.js';
import { gptqWasmBytes } from '../kernels/gptq-wasm.generated.js';
import type { GptqKernels } from './gptq-kernels.js';

interface GptqExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  failedPivot(): number;
  choleskyInPlace(a: number, n: number): number;
  lowerInverse(l: number, x: number, n: number): void;
  reverse(a: number, count: number): void;
  columnUpdate(w1: number, err: number, u: number, rows: number, count: number, i: number): void;
  lazyUpdate(w: number, err: number, u: number, rows: number, cols: number, i1: number, i2: number): void;
  hessianPanel(s: number, x: number, m: number, cols: number): void;
  driftPanel(s: number, d: number, x: number, m: number, cols: number): void;
  floatTarget(target: number, w: number, d: number, u: number, wd: number, tt: number, rows: number, cols: number, share: number, block: number): void;
}

const PAGE = 65536;
/** Linear memory one call may take: wasm32 addresses 4 GiB, and a host may refuse to commit all of it. */
const MAX_BYTES = 3.5 * 2 ** 30;

let compiled: WebAssembly.Module | null | undefined;

function gptqModule(): WebAssembly.Module | undefined {
  if (compiled === undefined) {
    try {
      compiled = typeof WebAssembly === 'object' ? new WebAssembly.Module(gptqWasmBytes()) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled ?? undefined;
}

/**
 * A fresh instance whose memory holds `floats` float64 arrays of the given lengths (64-byte
 * aligned), or undefined where WebAssembly or that much memory is unavailable. One instance per
 * call: its memory (hundreds of MiB for a large layer) is garbage once the call returns, rather
 * than kept by a long-lived instance that can never shrink.
 */
function instantiate(lengths: readonly number[]): { ex: GptqExports; ptrs: number[]; views: Float64Array[] } | undefined {
  const module = gptqModule();
  if (!module) return undefined;
  const ex = new WebAssembly.Instance(module).exports as unknown as GptqExports;
  let at = ex.heapBase();
  const ptrs = lengths.map((n) => {
    const ptr = at;
    at += Math.ceil((n * 8) / 64) * 64;
    return ptr;
  });
  if (at > MAX_BYTES) return undefined;
  const have = ex.memory.buffer.byteLength;
  try {
    if (at > have) ex.memory.grow(Math.ceil((at - have) / PAGE));
  } catch {
    return undefined;
  }
  // The module never grows its memory, so these views stay attached for the instance's life.
  const buf = ex.memory.buffer;
  return { ex, ptrs, views: lengths.map((n, i) => new Float64Array(buf, ptrs[i], n)) };
}

/** U = JXJ with X = L⁻¹ and LLᵀ = JHJ, as inverseCholeskyUpper, on arrays `a` (becomes L) and `x` (zeros, becomes U). */
function factorInPlace(ex: GptqExports, a: number, x: number, av: Float64Array, h: Float64Array, n: number): void {
  if (h.length !== n * n) throw new QuantError('SHAPE_MISMATCH', `expected an ${n}×${n} matrix (${n * n} values), got ${h.length}`);
  av.set(h);
  new Float64Array(av.buffer, x, n * n).fill(0);
  // JHJ of a row-major square matrix is the matrix read backwards.
  ex.reverse(a, n * n);
  const row = ex.choleskyInPlace(a, n);
  if (row >= 0) {
    const pivot = ex.failedPivot();
    throw new QuantError('INVALID_ARGUMENT', `the Hessian is not positive definite (pivot ${n - 1 - row} is ${pivot}): raise the dampening`, { details: { pivot: n - 1 - row } });
  }
  ex.lowerInverse(a, x, n);
  ex.reverse(x, n * n);
}

/** inverseCholeskyUpper in WebAssembly (bit-identical); undefined where the kernels cannot hold an n×n pair of matrices. */
export function inverseCholeskyUpperWasm(h: Float64Array, n: number): Float64Array | undefined {
  const inst = instantiate([n * n, n * n]);
  if (!inst) return undefined;
  const { ex, ptrs, views } = inst;
  factorInPlace(ex, ptrs[0]!, ptrs[1]!, views[0]!, h, n);
  return views[1]!.slice();
}

/** Rows of W per block of the float target: their W·D, its pairs and T (3 × 16 rows × cols float64) stay in L2 while D and U are streamed once a block. */
const TARGET_ROWS = 16;

/** GptqKernels over one instance's memory, or undefined where it cannot hold them (the caller falls back to the reference). */
export function createGptqKernelsWasm(rows: number, cols: number, batch: number, floatTarget = false): GptqKernels | undefined {
  // With floatTarget: W as float32 and the target's scratch too (D goes into the factor's work array once U is made).
  const extra = floatTarget ? [Math.ceil((rows * cols) / 2), 2 * TARGET_ROWS * cols, TARGET_ROWS * cols] : [];
  const inst = instantiate([cols * cols, cols * cols, rows * cols, rows * batch, rows * batch, ...extra]);
  if (!inst) return undefined;
  const { ex, ptrs, views } = inst;
  const [pa, pu, pw, pw1, perr, pwf, pwd, ptt] = ptrs as [number, number, number, number, number, number?, number?, number?];
  return {
    wk: views[2]!,
    w1: views[3]!,
    err: views[4]!,
    factor(h) {
      factorInPlace(ex, pa, pu, views[0]!, h, cols);
      return views[1]!;
    },
    columnUpdate(count, i, urow) {
      ex.columnUpdate(pw1, perr, pu + urow * 8, rows, count, i);
    },
    lazyUpdate(i1, i2) {
      ex.lazyUpdate(pw, perr, pu, rows, cols, i1, i2);
    },
    addFloatTarget(w, drift, share) {
      if (pwf === undefined) throw new QuantError('INVALID_ARGUMENT', 'these GPTQ kernels were made without room for the float target');
      views[0]!.set(drift);
      new Float32Array(views[5]!.buffer, pwf, rows * cols).set(w);
      ex.floatTarget(pw, pwf, pa, pu, pwd!, ptt!, rows, cols, share, TARGET_ROWS);
    },
  };
}

/**
 * The sums of hessianAccumulator in WebAssembly: `sum` (cols², upper triangle) lives in the
 * instance's memory beside a staging panel of `panel` float32 rows; add(x, m) folds m ≤ panel rows
 * in, each element's panel sum in row order as the reference. Undefined where the memory is unavailable.
 */
export function createHessianPanelWasm(cols: number, panel: number): { sum: Float64Array; add(x: Float32Array, m: number): void } | undefined {
  const inst = instantiate([cols * cols, Math.ceil((cols * panel) / 2)]);
  if (!inst) return undefined;
  const { ex, ptrs, views } = inst;
  const staged = new Float32Array(views[1]!.buffer, ptrs[1]!, cols * panel);
  return {
    sum: views[0]!,
    add(x, m) {
      staged.set(x);
      ex.hessianPanel(ptrs[0]!, ptrs[1]!, m, cols);
    },
  };
}

/**
 * The sums of driftAccumulator in WebAssembly: `sum` (cols², all of it) lives in the instance's
 * memory beside a staging panel of `panel` rows, the quantized rows as float32 and the float rows
 * minus them as float64 (the reference's subtraction, done here in JavaScript); add(q, f, m) folds
 * m ≤ panel row pairs in, each element's panel sum in row order as the reference. Undefined where
 * the memory is unavailable.
 */
export function createDriftPanelWasm(cols: number, panel: number): { sum: Float64Array; add(quantized: Float32Array, float: Float32Array, m: number): void } | undefined {
  const inst = instantiate([cols * cols, cols * panel, Math.ceil((cols * panel) / 2)]);
  if (!inst) return undefined;
  const { ex, ptrs, views } = inst;
  const d = views[1]!;
  const staged = new Float32Array(views[2]!.buffer, ptrs[2]!, cols * panel);
  return {
    sum: views[0]!,
    add(quantized, float, m) {
      staged.set(quantized);
      for (let k = 0; k < m * cols; k++) d[k] = float[k]! - quantized[k]!;
      ex.driftPanel(ptrs[0]!, ptrs[1]!, ptrs[2]!, m, cols);
    },
  };
}

/**
 * addFloatTarget's target += share · W·D·H⁻¹ in WebAssembly (bit-identical): U from the dampened
 * Hessian `hd` as inverseCholeskyUpper, then the kernel's three sweeps. False where the instance
 * cannot hold D, U, the target and W (about (2·cols² + 1.5·rows·cols)·8 bytes); the caller then
 * runs the reference.
 */
export function floatTargetWasm(target: Float64Array, w: Float32Array, rows: number, cols: number, hd: Float64Array, drift: Float64Array, share: number): boolean {
  const inst = instantiate([cols * cols, cols * cols, rows * cols, Math.ceil((rows * cols) / 2), 2 * TARGET_ROWS * cols, TARGET_ROWS * cols]);
  if (!inst) return false;
  const { ex, ptrs, views } = inst;
  const [pa, pu, pt, pw, pwd, ptt] = ptrs as [number, number, number, number, number, number];
  factorInPlace(ex, pa, pu, views[0]!, hd, cols);
  // The factor's work array is free once U is made: D goes there.
  views[0]!.set(drift);
  views[2]!.set(target);
  new Float32Array(views[3]!.buffer, pw, rows * cols).set(w);
  ex.floatTarget(pt, pw, pa, pu, pwd, ptt, rows, cols, share, TARGET_ROWS);
  target.set(views[2]!);
  return true;
}
