import type { QuantDtypeName } from '../../core/dtypes.js';
import { createWasmArena, getKernels } from '../../core/kernels/index.js';
import { blockLayout, PER_TENSOR } from '../../core/layout.js';
import { qparamsFromRange } from '../../core/quantize.js';
import type { NpyDtype } from '../../formats/npy.js';
import { createLocalRunner } from '../workers/chunk-runner.js';
import type { NpyFileReader } from './npy-file-reader.js';
import { locateNonFinite } from './non-finite-location.js';
import { computeNpyRange, DEFAULT_CHUNK_ELEMENTS, forEachChunk } from './npy-range.js';

/** What quantizing the array per-tensor, asymmetric, to one dtype would cost. */
export interface QuantErrorEstimate {
  readonly dtype: QuantDtypeName;
  readonly scale: number;
  readonly zeroPoint: number;
  /** mean((x − x̂)²), x̂ = dequantize(quantize(x)). */
  readonly mse: number;
  /** 10 · log10(Σx² / Σ(x − x̂)²) in dB; Infinity when x̂ = x exactly, NaN for an all-zero input. */
  readonly sqnrDb: number;
}

export interface NpyInspection {
  readonly shape: readonly number[];
  readonly dtype: NpyDtype;
  readonly size: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** Population standard deviation. */
  readonly std: number;
  /** `bins` equal-width bins over [min, max]; the last includes max. */
  readonly histogram: { readonly edges: readonly number[]; readonly counts: readonly number[] };
  readonly errors: readonly QuantErrorEstimate[];
}

export const INSPECT_DTYPES: readonly QuantDtypeName[] = ['int8', 'uint8', 'int4'];

/**
 * Statistics of a .npy array in two streamed passes: the range (NaN and ±Infinity are errors
 * naming the first index), then mean, spread, a histogram and, for each dtype, the error
 * per-tensor asymmetric quantization (PyTorch MinMaxObserver parameters) would introduce.
 * Sums are in float64.
 */
export async function inspectNpyFile(
  reader: NpyFileReader,
  opts: { bins?: number; dtypes?: readonly QuantDtypeName[]; chunkElements?: number } = {},
): Promise<NpyInspection> {
  const bins = opts.bins ?? 16;
  const dtypes = opts.dtypes ?? INSPECT_DTYPES;
  const size = reader.size;
  const m = Math.max(1, Math.min(opts.chunkElements ?? DEFAULT_CHUNK_ELEMENTS, size));
  // Chunks in WebAssembly memory (kernels run in place), two so the next is read during the current.
  const arena = createWasmArena();
  let sum = 0;
  let sumSq = 0;
  const counts = new Array<number>(bins).fill(0);
  const noise = new Float64Array(dtypes.length);
  const flat = [size];
  let min: number;
  let max: number;
  let params: ReturnType<typeof qparamsFromRange>[];
  try {
    const buffers = size > m && reader.isRawFloat32 ? [arena.float32(m), arena.float32(m)] : [arena.float32(m)];
    const layout = blockLayout(flat, PER_TENSOR);
    const range = await computeNpyRange(reader, layout, false, { runner: createLocalRunner(), buffer: buffers });
    min = range.min[0];
    max = range.max[0];
    params = dtypes.map((dtype) => qparamsFromRange(range.min, range.max, flat, { dtype }));
    const kernels = getKernels();
    const fq = arena.float32(m);
    const width = (max - min) / bins;
    const lo = min;
    await forEachChunk(reader, buffers, (x, start) => {
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        sum += v;
        sumSq += v * v;
        const b = width > 0 ? Math.floor((v - lo) / width) : 0;
        counts[b >= bins ? bins - 1 : b]++;
      }
      const out = fq.subarray(0, x.length);
      params.forEach((p, k) => {
        kernels.fakeQuantize(x, layout, p.scale, p.zeroPoint, p.qmin, p.qmax, out, start);
        let s = 0;
        for (let i = 0; i < x.length; i++) {
          const d = x[i] - out[i];
          s += d * d;
        }
        noise[k] += s;
      });
    });
  } catch (e) {
    throw locateNonFinite(reader.path, reader.header.shape, e);
  } finally {
    arena.free();
  }
  const width = (max - min) / bins;
  const mean = sum / size;
  const variance = Math.max(0, sumSq / size - mean * mean);
  const edges = Array.from({ length: bins + 1 }, (_, k) => (k === bins ? max : min + k * width));
  return {
    shape: reader.header.shape,
    dtype: reader.header.dtype,
    size,
    min,
    max,
    mean,
    std: Math.sqrt(variance),
    histogram: { edges, counts },
    errors: params.map((p, k) => ({
      dtype: p.dtype,
      scale: p.scale[0],
      zeroPoint: p.zeroPoint[0],
      mse: noise[k] / size,
      sqnrDb: sumSq === 0 ? NaN : noise[k] === 0 ? Infinity : 10 * Math.log10(sumSq / noise[k]),
    })),
  };
}
