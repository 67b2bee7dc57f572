import type { CodeArray, CodeStorage, QuantDtypeName } from '../../core/dtypes.js';
import { codeArrayConstructor, getQuantDtype } from '../../core/dtypes.js';
import { getKernels } from '../../core/kernels/index.js';
import type { BlockLayout, Granularity } from '../../core/layout.js';
import { blockLayout, PER_TENSOR } from '../../core/layout.js';
import type { QParams } from '../../core/qparams.js';
import { qparamsFromRange } from '../../core/quantize.js';
import { roundHalfEven } from '../../core/round.js';
import type { NpyFileReader } from './npy-file-reader.js';
import { DEFAULT_CHUNK_ELEMENTS, forEachChunk } from './npy-range.js';
import type { ObserverChoice } from './observe-npy-file.js';
import { observeNpyFiles } from './observe-npy-file.js';

const f32 = Math.fround;

export interface NpyCalibrationOptions {
  readonly observer: ObserverChoice;
  readonly dtype: QuantDtypeName;
  readonly symmetric?: boolean;
  readonly narrow?: boolean;
  /** Default per-tensor; per-block works with the minmax observer only. */
  readonly granularity?: Granularity;
  /** Bins of the report's histogram of the data; default 16. */
  readonly bins?: number;
  readonly chunkElements?: number;
  /** Elements done out of a total over both passes. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** How one parameter (the tensor, a channel or a block) fits the values it quantizes. */
export interface ParameterCalibration {
  /** The observer's clipping range. */
  readonly rangeMin: number;
  readonly rangeMax: number;
  /** The extremes actually seen. */
  readonly observedMin: number;
  readonly observedMax: number;
  readonly scale: number;
  readonly zeroPoint: number;
  readonly count: number;
  /** Values the clamp to [qmin, qmax] changed. */
  readonly clipped: number;
  /** mean((x − x̂)²) with x̂ = dequantize(quantize(x)). */
  readonly mse: number;
  /** 10·log10(Σx² / Σ(x − x̂)²); Infinity when x̂ = x exactly, NaN when every x is 0. */
  readonly sqnrDb: number;
}

export interface NpyCalibration {
  readonly params: QParams;
  readonly files: readonly { readonly path: string; readonly shape: readonly number[] }[];
  /** One entry per parameter, flat in C order over params.paramShape. */
  readonly parameters: readonly ParameterCalibration[];
  /** The same measures over every value of every file. */
  readonly total: Omit<ParameterCalibration, 'rangeMin' | 'rangeMax' | 'scale' | 'zeroPoint'>;
  /** Equal-width bins of the data over [observedMin, observedMax] of all values; the last bin is closed. */
  readonly histogram: { readonly edges: readonly number[]; readonly counts: readonly number[] };
}

/**
 * Calibrates one parameter set on several .npy files (calibration batches), streamed in two
 * passes: the observer chooses the range (observeNpyFiles), qparamsFromRange turns it into the
 * parameters, exactly as observer.qparams does; then every file is quantized with them to measure
 * the clipped values, MSE and SQNR per parameter and overall, and a histogram of the data.
 * Sums are float64; the quantized values are the library's (float32 quantize and dequantize kernels).
 */
export async function calibrateNpyFiles(readers: readonly NpyFileReader[], opts: NpyCalibrationOptions): Promise<NpyCalibration> {
  const granularity = opts.granularity ?? PER_TENSOR;
  const scheme = { dtype: opts.dtype, symmetric: opts.symmetric ?? false, narrow: opts.narrow ?? false, granularity };
  getQuantDtype(opts.dtype);
  const chunk = opts.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  const total = readers.reduce((n, r) => n + r.size, 0);
  const range = await observeNpyFiles(readers, opts.observer, scheme, { chunkElements: chunk, onProgress: (d) => opts.onProgress?.(d, 2 * total) });
  const params = qparamsFromRange(range.min, range.max, readers[0].header.shape, scheme);

  const bins = opts.bins ?? 16;
  let lo = Infinity;
  let hi = -Infinity;
  for (let p = 0; p < range.observedMin.length; p++) {
    lo = Math.min(lo, range.observedMin[p]);
    hi = Math.max(hi, range.observedMax[p]);
  }
  const sums = new Sums(params.scale.length, bins, lo, hi);
  let done = total;
  for (const reader of readers) {
    const layout = blockLayout(reader.header.shape, granularity);
    const buffer = new Float32Array(Math.max(1, Math.min(chunk, reader.size)));
    await forEachChunk(reader, buffer, (x, start) => sums.add(x, start, layout, params), (n) => opts.onProgress?.(done + n, 2 * total));
    done += reader.size;
  }

  const parameters = Array.from({ length: params.scale.length }, (_, p): ParameterCalibration => ({
    rangeMin: range.min[p],
    rangeMax: range.max[p],
    observedMin: range.observedMin[p],
    observedMax: range.observedMax[p],
    scale: params.scale[p],
    zeroPoint: params.zeroPoint[p],
    ...sums.measures(p),
  }));
  return {
    params,
    files: readers.map((r) => ({ path: r.path, shape: r.header.shape })),
    parameters,
    total: { observedMin: lo, observedMax: hi, ...sums.overall() },
    histogram: sums.histogram(),
  };
}

/** Per-parameter float64 accumulators of the measuring pass. */
class Sums {
  private readonly count: Float64Array;
  private readonly clipped: Float64Array;
  private readonly noise: Float64Array;
  private readonly signal: Float64Array;
  private readonly counts: number[];
  private codes = new Int32Array(0);
  private restored = new Float32Array(0);

  constructor(
    params: number,
    private readonly bins: number,
    private readonly lo: number,
    private readonly hi: number,
  ) {
    this.count = new Float64Array(params);
    this.clipped = new Float64Array(params);
    this.noise = new Float64Array(params);
    this.signal = new Float64Array(params);
    this.counts = new Array<number>(bins).fill(0);
  }

  add(x: Float32Array, start: number, layout: BlockLayout, params: QParams): void {
    const n = x.length;
    if (this.codes.length < n) {
      this.codes = new Int32Array(n);
      this.restored = new Float32Array(n);
    }
    const storage = getQuantDtype(params.dtype).storage;
    const codes = codesView(this.codes, storage, n);
    const restored = this.restored.subarray(0, n);
    const kernels = getKernels();
    kernels.quantize(x, layout, params.scale, params.zeroPoint, params.qmin, params.qmax, codes, start);
    kernels.dequantize(codes, layout, params.scale, params.zeroPoint, restored, start);
    const { qmin, qmax, scale, zeroPoint } = params;
    const width = (this.hi - this.lo) / this.bins;
    const walk = new ParamWalker(layout, start);
    for (let i = 0; i < n; i++, walk.next()) {
      const p = walk.p;
      const v = x[i];
      const e = v - restored[i];
      this.count[p]++;
      this.noise[p] += e * e;
      this.signal[p] += v * v;
      const q = codes[i];
      // Only codes at the ends can have been clamped; redo the division for those alone.
      if (q === qmin || q === qmax) {
        const unclamped = roundHalfEven(f32(v / scale[p])) + zeroPoint[p];
        if (unclamped < qmin || unclamped > qmax) this.clipped[p]++;
      }
      const b = width > 0 ? Math.floor((v - this.lo) / width) : 0;
      this.counts[b >= this.bins ? this.bins - 1 : b]++;
    }
  }

  measures(p: number): Pick<ParameterCalibration, 'count' | 'clipped' | 'mse' | 'sqnrDb'> {
    return measure(this.count[p], this.clipped[p], this.noise[p], this.signal[p]);
  }

  overall(): Pick<ParameterCalibration, 'count' | 'clipped' | 'mse' | 'sqnrDb'> {
    const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
    return measure(sum(this.count), sum(this.clipped), sum(this.noise), sum(this.signal));
  }

  histogram(): NpyCalibration['histogram'] {
    const width = (this.hi - this.lo) / this.bins;
    const edges = Array.from({ length: this.bins + 1 }, (_, k) => (k === this.bins ? this.hi : this.lo + k * width));
    return { edges, counts: this.counts.slice() };
  }
}

function measure(count: number, clipped: number, noise: number, signal: number) {
  return {
    count,
    clipped,
    mse: count ? noise / count : 0,
    sqnrDb: signal === 0 ? NaN : noise === 0 ? Infinity : 10 * Math.log10(signal / noise),
  };
}

/** A typed view of the scratch codes in the dtype's storage (the kernels write that storage). */
function codesView(scratch: Int32Array, storage: CodeStorage, n: number): CodeArray {
  return new (codeArrayConstructor(storage))(scratch.buffer, scratch.byteOffset, n) as CodeArray;
}

/**
 * The parameter index of consecutive elements from `start`, stepped without a division per
 * element (the incremental form of paramIndex).
 */
class ParamWalker {
  p = 0;
  private i: number;
  private a: number;
  private o: number;

  constructor(private readonly layout: BlockLayout, start: number) {
    const r = Math.floor(start / layout.inner);
    this.i = start - r * layout.inner;
    this.o = Math.floor(r / layout.axisLen);
    this.a = r - this.o * layout.axisLen;
    this.update();
  }

  next(): void {
    const l = this.layout;
    if (l.paramCount === 1) return;
    if (++this.i === l.inner) {
      this.i = 0;
      if (++this.a === l.axisLen) {
        this.a = 0;
        this.o++;
      }
    }
    this.update();
  }

  private update(): void {
    const l = this.layout;
    if (l.paramCount === 1) return;
    const block = Math.floor(this.a / l.blockSize);
    this.p = l.varyInner ? this.o * l.paramOuterStride + block * l.inner + this.i : this.o * l.paramOuterStride + block;
  }
}
