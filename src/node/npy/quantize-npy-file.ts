import type { CodeArray, QuantDtype, QuantDtypeName } from '../../core/dtypes.js';
import { getQuantDtype } from '../../core/dtypes.js';
import { QuantError } from '../../core/errors.js';
import type { WasmArena } from '../../core/kernels/index.js';
import { createWasmArena, getKernels } from '../../core/kernels/index.js';
import type { BlockLayout, Granularity } from '../../core/layout.js';
import { blockLayout, PER_TENSOR } from '../../core/layout.js';
import type { QParams } from '../../core/qparams.js';
import { layoutForParams, qparamsFromRange } from '../../core/quantize.js';
import { createRng } from '../../core/random.js';
import { quantizeStochastic } from '../../core/stochastic.js';
import { encodeNpyHeader, npyDtypeOfCodes } from '../../formats/npy.js';
import type { ChunkRunner } from '../workers/chunk-runner.js';
import { createLocalRunner } from '../workers/chunk-runner.js';
import type { NpyFileReader } from './npy-file-reader.js';
import { checkChunkFinite, computeNpyRange, DEFAULT_CHUNK_ELEMENTS, forEachChunk } from './npy-range.js';
import type { ObserverChoice } from './observe-npy-file.js';
import { locateNonFinite } from './non-finite-location.js';

/**
 * Where streamed output bytes go (an AtomicFile, or anything that takes bytes in order). `bytes`
 * may be a view of reused WebAssembly memory: valid during the call only (copy what you keep).
 */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

/** How a file's values are quantized, whatever the file (.npy here, .safetensors per tensor). */
export interface FileQuantizeScheme {
  readonly symmetric?: boolean;
  readonly narrow?: boolean;
  /** For a .safetensors file, applied to every chosen tensor (an axis counts in that tensor's rank). */
  readonly granularity?: Granularity;
  readonly allowInf?: boolean;
  /**
   * Choose the range with this observer (createObserver's names and options) instead of plain
   * min/max; per-tensor or per-channel only, and without allowInf (observers reject ±Infinity).
   */
  readonly observer?: ObserverChoice;
  readonly rounding?: 'half-even' | 'stochastic';
  /** Seed of stochastic rounding (a .safetensors file restarts it for each tensor). */
  readonly seed?: number;
  /** quantize only: write 2- and 4-bit codes packed as ONNX stores them, as a flat uint8 array. */
  readonly pack?: boolean;
  /** Called as work progresses: elements done out of the total the whole run will do. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface NpyFileQuantizeOptions extends FileQuantizeScheme {
  readonly dtype?: QuantDtypeName;
  /** Use these parameters instead of computing them (dtype and granularity come from them). */
  readonly params?: QParams;
  /** Runs the kernels (a KernelPool to use worker threads; the caller closes it); default this thread. */
  readonly runner?: ChunkRunner;
  readonly chunkElements?: number;
}

export interface NpyFileQuantizeResult {
  readonly params: QParams;
  /** Shape of the input array (codes keep it unless packed). */
  readonly shape: readonly number[];
  readonly packed: boolean;
}

/**
 * Quantizes a .npy file to a .npy of codes without holding either in memory: pass 1 folds each
 * chunk into per-parameter min/max (skipped when params are given), pass 2 quantizes chunk by
 * chunk into a reused codes buffer and writes it. The codes are those the library's quantize
 * gives for the whole array (the kernels take each chunk's `start`; stochastic rounding draws from
 * one generator in element order). Codes keep the input's shape in the smallest integer dtype
 * that holds them; with `pack`, 2- and 4-bit codes are packed along the flat C order, low bits first.
 *
 * The chunk buffers live in WebAssembly memory (an arena freed before this returns, whatever
 * happens): float32 little-endian data is read straight into them and quantized in place, and the
 * codes are written from where the kernel put them. Chunk k + 1 is read while chunk k is processed.
 */
export async function quantizeNpyFile(reader: NpyFileReader, sink: ByteSink, opts: NpyFileQuantizeOptions): Promise<NpyFileQuantizeResult> {
  return streamQuantize(reader, sink, opts, 'codes');
}

/** dequantize(quantize(x)) of a .npy file, streamed: the float32 values the quantized model would see. */
export async function fakeQuantizeNpyFile(reader: NpyFileReader, sink: ByteSink, opts: Omit<NpyFileQuantizeOptions, 'pack'>): Promise<NpyFileQuantizeResult> {
  return streamQuantize(reader, sink, opts, 'values');
}

async function streamQuantize(reader: NpyFileReader, sink: ByteSink, opts: NpyFileQuantizeOptions, output: 'codes' | 'values'): Promise<NpyFileQuantizeResult> {
  const runner = opts.runner ?? createLocalRunner();
  const arena = createWasmArena();
  try {
    return await streamQuantizeWith(reader, sink, opts, output, runner, arena);
  } catch (e) {
    throw locateNonFinite(reader.path, reader.header.shape, e);
  } finally {
    // Every read has landed by now (forEachChunk waits for it), so the buffers can go.
    arena.free();
    if (!opts.runner) await runner.close();
  }
}

async function streamQuantizeWith(
  reader: NpyFileReader,
  sink: ByteSink,
  opts: NpyFileQuantizeOptions,
  output: 'codes' | 'values',
  runner: ChunkRunner,
  arena: WasmArena,
): Promise<NpyFileQuantizeResult> {
  const shape = reader.header.shape;
  const size = reader.size;
  const allowInf = opts.allowInf ?? false;
  const chunk = alignedChunk(opts.chunkElements ?? DEFAULT_CHUNK_ELEMENTS);
  const m = Math.max(1, Math.min(chunk, size));
  // Two input buffers when the file is long enough to read one chunk while the other is processed.
  const buffers = size > m && reader.isRawFloat32 ? [arena.float32(m), arena.float32(m)] : [arena.float32(m)];
  const passes = opts.params ? 1 : 2;
  const progress = (pass: number) => (done: number) => opts.onProgress?.(pass * size + done, passes * size);

  let params: QParams;
  let layout: BlockLayout;
  if (opts.params) {
    params = opts.params;
    layout = layoutForParams(size, shape, params);
  } else {
    if (!opts.dtype) throw new QuantError('INVALID_ARGUMENT', 'quantizing a file needs a dtype or params');
    const scheme = { dtype: opts.dtype, symmetric: opts.symmetric, narrow: opts.narrow, granularity: opts.granularity ?? PER_TENSOR };
    getQuantDtype(opts.dtype);
    layout = blockLayout(shape, scheme.granularity);
    let range: { min: Float32Array; max: Float32Array };
    if (opts.observer && opts.observer.name !== 'minmax') {
      if (allowInf) throw new QuantError('UNSUPPORTED', `observer '${opts.observer.name}' does not accept infinities: drop allowInf or use minmax`);
      // Loaded on demand: the observers are a third of this module's start-up cost, and plain min/max needs none.
      const { observeNpyFiles } = await import('./observe-npy-file.js');
      range = await observeNpyFiles([reader], opts.observer, scheme, { chunkElements: chunk, onProgress: progress(0) });
    } else {
      range = await computeNpyRange(reader, layout, allowInf, { runner, buffer: buffers, onProgress: progress(0) });
    }
    params = qparamsFromRange(range.min, range.max, shape, scheme);
  }
  const dtype = getQuantDtype(params.dtype);
  const pack = output === 'codes' && (opts.pack ?? false);
  if (pack && dtype.perByte === 0) {
    throw new QuantError('UNSUPPORTED', `packing applies to 2- and 4-bit codes, got ${dtype.name} (${dtype.bits} bits)`);
  }

  const codes = arena.codes(dtype.storage, m);
  const stochastic = opts.rounding === 'stochastic';
  const rng = stochastic ? createRng(opts.seed ?? 0) : undefined;
  const kernels = getKernels();
  const { scale, zeroPoint, qmin, qmax } = params;

  if (output === 'codes') {
    const packed = pack ? arena.uint8(packedLength(m, dtype)) : undefined;
    sink.write(pack ? encodeNpyHeader('uint8', [packedLength(size, dtype)]) : encodeNpyHeader(npyDtypeOfCodes(codes), shape));
    await forEachChunk(reader, buffers, async (x, start) => {
      if (opts.params) checkChunkFinite(x, start, allowInf);
      const q = codes.subarray(0, x.length);
      if (rng) quantizeStochastic(x, layout, scale, zeroPoint, qmin, qmax, q, rng, start);
      else await runner.quantize(x, layout, scale, zeroPoint, qmin, qmax, q, start);
      if (packed) {
        const bytes = packed.subarray(0, packedLength(x.length, dtype));
        kernels.pack(q as Int8Array | Uint8Array, dtype.bits as 2 | 4, bytes);
        sink.write(bytes);
      } else {
        sink.write(bytesOf(q));
      }
    }, progress(passes - 1));
  } else {
    const values = arena.float32(m);
    sink.write(encodeNpyHeader('float32', shape));
    await forEachChunk(reader, buffers, async (x, start) => {
      if (opts.params) checkChunkFinite(x, start, allowInf);
      const out = values.subarray(0, x.length);
      if (rng) {
        const q = codes.subarray(0, x.length);
        quantizeStochastic(x, layout, scale, zeroPoint, qmin, qmax, q, rng, start);
        await runner.dequantize(q, layout, scale, zeroPoint, out, start);
      } else {
        await runner.fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
      }
      sink.write(bytesOf(out));
    }, progress(passes - 1));
  }
  return { params, shape, packed: pack };
}

/** Bytes of ceil(n · bits / 8) packed codes. */
export function packedLength(n: number, dtype: QuantDtype): number {
  return Math.ceil((n * dtype.bits) / 8);
}

/** Chunks hold a multiple of 64 elements so packed chunks end on whole bytes and SIMD loops on whole vectors. */
export function alignedChunk(n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new QuantError('INVALID_ARGUMENT', `chunk size must be a positive integer, got ${n}`);
  return Math.max(64, Math.floor(n / 64) * 64);
}

export function bytesOf(a: Float32Array | CodeArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
