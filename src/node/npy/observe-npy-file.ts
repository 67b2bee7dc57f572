import { QuantError, isQuantError } from '../../core/errors.js';
import type { Granularity } from '../../core/layout.js';
import { blockLayout, normalizeAxis, PER_TENSOR, shapeSize } from '../../core/layout.js';
import { createObserver } from '../../core/observers/builtin-observers.js';
import { MovingAverageObserver } from '../../core/observers/moving-average-observer.js';
import type { Observer, ObserverScheme } from '../../core/observers/observer.js';
import { createLocalRunner } from '../workers/chunk-runner.js';
import { locateNonFinite } from './non-finite-location.js';
import type { NpyFileReader } from './npy-file-reader.js';
import { checkChunkFinite, computeNpyRange, DEFAULT_CHUNK_ELEMENTS, forEachChunk } from './npy-range.js';

/** An observer by registry name, with its options except `axis` (the granularity supplies it). */
export interface ObserverChoice {
  readonly name: string;
  readonly options?: Readonly<Record<string, unknown>>;
}

export interface ObserveNpyOptions {
  /** Elements per chunk fed to the observers (at least one slice along the split axis is read). */
  readonly chunkElements?: number;
  /** Called after each chunk with the elements of this file done so far. */
  readonly onProgress?: (done: number) => void;
}

/**
 * Feeds a whole .npy file to observers without holding it in memory, chunk by chunk, each chunk a
 * valid batch under the observers' update(x, shape) contract:
 *   per-tensor           contiguous runs of the file, as shape [n];
 *   per-channel, axis a  whole slices along axis 0 when a ≠ 0 (shape [k, ...shape[1:]]), and when
 *                        a = 0 slices along axis 1 gathered from every channel (shape [C, k, ...]),
 *                        so every chunk holds all C channels; a rank-1 file is one batch.
 * Every observer must have the same axis. A moving-average observer is the exception: its average
 * steps once per batch, and a calibration batch is the file (as PyTorch steps once per forward
 * call), not a chunk; it folds the file's per-channel extremes in as one batch, which is exact
 * since that observer reads nothing but a batch's extremes.
 * Histogram observers re-bin when a later chunk widens the span, so on files longer than one
 * chunk their range may differ from one whole-array update by the re-binning error
 * (at most a bin width per widening); minmax is exact whatever the chunking.
 * Errors name the file; NaN and ±Infinity name the first flat index (C order) within it.
 */
export async function observeNpyFile(reader: NpyFileReader, observers: readonly Observer[], opts: ObserveNpyOptions = {}): Promise<void> {
  if (reader.size === 0) {
    throw new QuantError('EMPTY_INPUT', `'${reader.path}' holds no values (shape [${reader.header.shape.join(', ')}]): cannot calibrate on it`);
  }
  if (observers.length === 0) return;
  const axis = observers[0].axis;
  if (observers.some((o) => o.axis !== axis)) throw new QuantError('INVALID_ARGUMENT', 'observers fed one file together must share their axis');
  const averaged = observers.filter((o) => o instanceof MovingAverageObserver);
  const chunked = observers.filter((o) => !(o instanceof MovingAverageObserver));
  const extremes = averaged.length > 0 ? createObserver('minmax', { axis }) : undefined;
  if (extremes) chunked.push(extremes);
  try {
    await forEachObserverChunk(reader, axis, opts.chunkElements ?? DEFAULT_CHUNK_ELEMENTS, (x, shape) => {
      for (const o of chunked) o.update(x, shape);
    }, opts.onProgress);
    if (extremes) {
      const { min, max } = extremes.range({ dtype: 'int8' });
      const batch = extremesBatch(min, max, axis, reader.header.shape.length);
      for (const o of averaged) o.update(batch.x, batch.shape);
    }
  } catch (e) {
    if (isQuantError(e) && (e.code === 'NAN_INPUT' || e.code === 'INF_INPUT')) await locateNonFiniteIn(reader);
    throw withFile(reader.path, e);
  }
}

/**
 * The clipping range chosen over calibration batches (one .npy file each), and the observed
 * per-parameter extremes. The files must share a rank and the parameters' shape under the
 * granularity. Per-block parameters have min/max only (the observers are per-tensor or per-channel).
 */
export async function observeNpyFiles(
  readers: readonly NpyFileReader[],
  choice: ObserverChoice,
  scheme: ObserverScheme & { readonly granularity?: Granularity },
  opts: ObserveNpyOptions = {},
): Promise<{ min: Float32Array; max: Float32Array; observedMin: Float32Array; observedMax: Float32Array }> {
  if (readers.length === 0) throw new QuantError('INVALID_ARGUMENT', 'calibration needs at least one .npy file');
  const granularity = scheme.granularity ?? PER_TENSOR;
  checkSameParameters(readers, granularity);
  const chunk = opts.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  let done = 0;
  const progress = (n: number) => opts.onProgress?.(done + n);
  if (granularity.kind === 'per-block') {
    if (choice.name !== 'minmax') {
      throw new QuantError('UNSUPPORTED', `per-block parameters are chosen by min/max only: observer '${choice.name}' is per-tensor or per-channel (drop the block size, or use minmax)`);
    }
    let min: Float32Array | undefined;
    let max: Float32Array | undefined;
    for (const reader of readers) {
      if (reader.size === 0) throw new QuantError('EMPTY_INPUT', `'${reader.path}' holds no values (shape [${reader.header.shape.join(', ')}]): cannot calibrate on it`);
      const layout = blockLayout(reader.header.shape, granularity);
      const buffer = new Float32Array(Math.max(1, Math.min(chunk, reader.size)));
      let r: { min: Float32Array; max: Float32Array };
      try {
        r = await computeNpyRange(reader, layout, false, { runner: createLocalRunner(), buffer, onProgress: progress });
      } catch (e) {
        throw withFile(reader.path, e);
      }
      done += reader.size;
      if (!min || !max) {
        min = r.min;
        max = r.max;
        continue;
      }
      for (let p = 0; p < min.length; p++) {
        if (r.min[p] < min[p]) min[p] = r.min[p];
        if (r.max[p] > max[p]) max[p] = r.max[p];
      }
    }
    return { min: min!, max: max!, observedMin: min!.slice(), observedMax: max!.slice() };
  }
  const axis = granularity.kind === 'per-axis' ? granularity.axis : undefined;
  const observer = createObserver(choice.name, { ...choice.options, axis });
  const extremes = choice.name === 'minmax' ? observer : createObserver('minmax', { axis });
  const observers = extremes === observer ? [observer] : [observer, extremes];
  for (const reader of readers) {
    await observeNpyFile(reader, observers, { chunkElements: chunk, onProgress: progress });
    done += reader.size;
  }
  const { min, max } = observer.range(scheme);
  const observed = extremes.range(scheme);
  return { min, max, observedMin: observed.min, observedMax: observed.max };
}

/** Every file must give parameters of the first one's shape (so one parameter set serves them all). */
function checkSameParameters(readers: readonly NpyFileReader[], granularity: Granularity): void {
  const describe = (reader: NpyFileReader) => {
    const shape = reader.header.shape;
    try {
      return { shape, params: blockLayout(shape, granularity).paramShape };
    } catch (e) {
      throw withFile(reader.path, e);
    }
  };
  const first = describe(readers[0]);
  for (const reader of readers.slice(1)) {
    const d = describe(reader);
    const sameRank = d.shape.length === first.shape.length;
    const sameParams = d.params.length === first.params.length && d.params.every((v, k) => v === first.params[k]);
    if (!sameRank || !sameParams) {
      throw new QuantError(
        'SHAPE_MISMATCH',
        `calibration batches must share a rank and the parameters' shape: '${readers[0].path}' has shape [${first.shape.join(', ')}] (parameters [${first.params.join(', ')}]), '${reader.path}' has [${d.shape.join(', ')}] (parameters [${d.params.join(', ')}])`,
      );
    }
  }
}

/** Visits the file as observer batches (see observeNpyFile); x is a reused buffer. */
async function forEachObserverChunk(
  reader: NpyFileReader,
  axis: number | undefined,
  chunkElements: number,
  visit: (x: Float32Array, shape: readonly number[]) => void,
  onProgress?: (done: number) => void,
): Promise<void> {
  const shape = reader.header.shape;
  const size = reader.size;
  if (axis === undefined) {
    const buffer = new Float32Array(Math.max(1, Math.min(chunkElements, size)));
    await forEachChunk(reader, buffer, (x) => visit(x, [x.length]), onProgress);
    return;
  }
  const a = normalizeAxis(axis, shape.length);
  if (a > 0) {
    const row = shapeSize(shape.slice(1));
    const rows = Math.max(1, Math.floor(chunkElements / row));
    const buffer = new Float32Array(Math.min(rows, shape[0]) * row);
    for (let r = 0; r < shape[0]; r += rows) {
      const k = Math.min(rows, shape[0] - r);
      visit(reader.readFloat32(r * row, buffer.subarray(0, k * row)), [k, ...shape.slice(1)]);
      onProgress?.((r + k) * row);
    }
    return;
  }
  if (shape.length === 1) {
    visit(reader.readFloat32(0, new Float32Array(size)), shape);
    onProgress?.(size);
    return;
  }
  // Channels along axis 0: a chunk takes the same run of axis 1 from every channel.
  const channels = shape[0];
  const length = shape[1];
  const slice = shapeSize(shape.slice(2));
  const rows = Math.max(1, Math.floor(chunkElements / (channels * slice)));
  const buffer = new Float32Array(channels * Math.min(rows, length) * slice);
  for (let j = 0; j < length; j += rows) {
    const k = Math.min(rows, length - j);
    const run = k * slice;
    for (let c = 0; c < channels; c++) reader.readFloat32((c * length + j) * slice, buffer.subarray(c * run, (c + 1) * run));
    visit(buffer.subarray(0, channels * run), [channels, k, ...shape.slice(2)]);
    onProgress?.(channels * (j + k) * slice);
  }
}

/**
 * A batch whose per-parameter extremes are exactly (min, max): per-tensor [min, max]; per-channel
 * along axis a, the file's rank with C along a and the two rows along another axis (a rank-1 file
 * has one value per channel per batch, so there min = max).
 */
function extremesBatch(min: Float32Array, max: Float32Array, axis: number | undefined, rank: number): { x: Float32Array; shape: number[] } {
  if (axis === undefined) return { x: new Float32Array([min[0], max[0]]), shape: [2] };
  const a = normalizeAxis(axis, rank);
  const channels = min.length;
  if (rank === 1) return { x: min.slice(), shape: [channels] };
  const b = a === 0 ? 1 : 0;
  const shape = new Array<number>(rank).fill(1);
  shape[a] = channels;
  shape[b] = 2;
  const x = new Float32Array(2 * channels);
  for (let c = 0; c < channels; c++) {
    // C order: the row index varies slowest when axis b comes first.
    if (b < a) {
      x[c] = min[c];
      x[channels + c] = max[c];
    } else {
      x[2 * c] = min[c];
      x[2 * c + 1] = max[c];
    }
  }
  return { x, shape };
}

/** Rescans the file in C order to name the first NaN (or ±Infinity) by its flat index. */
async function locateNonFiniteIn(reader: NpyFileReader): Promise<void> {
  const buffer = new Float32Array(Math.max(1, Math.min(DEFAULT_CHUNK_ELEMENTS, reader.size)));
  try {
    await forEachChunk(reader, buffer, (x, start) => checkChunkFinite(x, start, false));
  } catch (e) {
    throw withFile(reader.path, locateNonFinite(reader.path, reader.header.shape, e));
  }
}

/** The same error, its message prefixed with the file it is about (unless it already names it). */
export function withFile(path: string, e: unknown): unknown {
  if (!isQuantError(e) || e.message.includes(`'${path}'`) || e.message.startsWith(`${path}:`) || e.message.startsWith(`${path}[`)) return e;
  return new QuantError(e.code, `'${path}': ${e.message}`, { cause: e, details: e.details });
}
