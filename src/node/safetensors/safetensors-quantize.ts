import type { CodeStorage, QuantDtypeName } from '../../core/dtypes.js';
import { getQuantDtype, quantRange } from '../../core/dtypes.js';
import { QuantError } from '../../core/errors.js';
import { float32ToBfloat16Bits } from '../../core/bfloat16.js';
import { float32ToFloat16Bits } from '../../core/float16.js';
import type { WasmArena } from '../../core/kernels/index.js';
import { createWasmArena, getKernels } from '../../core/kernels/index.js';
import type { Granularity } from '../../core/layout.js';
import { blockLayout, PER_TENSOR } from '../../core/layout.js';
import { createObserver } from '../../core/observers/builtin-observers.js';
import type { QParams } from '../../core/qparams.js';
import { computeQParams, dequantize, fakeQuantize, qparamsFromRange, quantize } from '../../core/quantize.js';
import { PLATFORM_LITTLE_ENDIAN } from '../../formats/npy-dtype.js';
import type { SourceFloatDtype } from '../../formats/quantized-safetensors.js';
import {
  decodeQuantizedEntry,
  encodeQuantizedEntry,
  entryKey,
  FORMAT_KEY,
  isSourceFloatDtype,
  QUANTKIT_SAFETENSORS_FORMAT,
  quantizedTensorNames,
  scaleTensorName,
  zeroPointTensorName,
} from '../../formats/quantized-safetensors.js';
import type { SafetensorsDtype, SafetensorsTensorInfo, SafetensorsTensorSpec } from '../../formats/safetensors.js';
import { encodeSafetensorsHeader, floatTensorToFloat32 } from '../../formats/safetensors.js';
import type { ByteSink, FileQuantizeScheme } from '../npy/quantize-npy-file.js';
import { packedLength } from '../npy/quantize-npy-file.js';
import type { SafetensorsFileReader } from './safetensors-file.js';

/** Which tensors quantize and fake-quant take. */
export interface SafetensorsSelection {
  /** Only float tensors whose names match (default: every float tensor of rank 2 or more, the weight matrices and kernels). */
  readonly include?: RegExp;
  /** Never tensors whose names match (e.g. /norm|embed/). */
  readonly exclude?: RegExp;
}

export interface SafetensorsQuantizeOptions extends SafetensorsSelection, FileQuantizeScheme {
  readonly dtype: QuantDtypeName;
}

export interface SafetensorsTensorResult {
  readonly name: string;
  readonly shape: readonly number[];
  readonly sourceDtype: SourceFloatDtype;
  readonly params: QParams;
}

export interface SafetensorsQuantizeResult {
  readonly quantized: readonly SafetensorsTensorResult[];
  /** Tensors copied unchanged: not floating point, not chosen, or empty. */
  readonly kept: readonly string[];
}

const CODES_DTYPE: Record<CodeStorage, SafetensorsDtype> = { int8: 'I8', uint8: 'U8', int16: 'I16', uint16: 'U16' };

/** The float tensors the selection takes (non-empty), and every other tensor. */
export function selectTensors(tensors: readonly SafetensorsTensorInfo[], sel: SafetensorsSelection): { chosen: SafetensorsTensorInfo[]; kept: SafetensorsTensorInfo[] } {
  const chosen: SafetensorsTensorInfo[] = [];
  const kept: SafetensorsTensorInfo[] = [];
  for (const t of tensors) {
    const wanted = isSourceFloatDtype(t.dtype) && t.end > t.begin && (sel.include ? sel.include.test(t.name) : t.shape.length >= 2) && !sel.exclude?.test(t.name);
    (wanted ? chosen : kept).push(t);
  }
  return { chosen, kept };
}

/** The chosen tensors, or an error saying why there are none: a run that changes nothing is a mistake. */
function chooseOrFail(reader: SafetensorsFileReader, sel: SafetensorsSelection): { chosen: SafetensorsTensorInfo[]; kept: SafetensorsTensorInfo[] } {
  const picked = selectTensors(reader.header.tensors, sel);
  if (picked.chosen.length > 0) return picked;
  const floats = reader.header.tensors.filter((t) => isSourceFloatDtype(t.dtype) && t.end > t.begin);
  const rule = `${sel.include ? `match --include ${sel.include}` : 'have rank 2 or more'}${sel.exclude ? ` and not --exclude ${sel.exclude}` : ''}`;
  const listed = floats.slice(0, 6).map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ') + (floats.length > 6 ? `, and ${floats.length - 6} more` : '');
  throw new QuantError('INVALID_ARGUMENT', `nothing to quantize in '${reader.path}': no non-empty float tensor (F32, F16, BF16, F64) ${rule}${floats.length ? `; its float tensors: ${listed}` : '; it has no float tensors'}`);
}

/** Errors from a tensor's computation, prefixed with its name. */
function inTensor<T>(name: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    if (e instanceof QuantError) throw new QuantError(e.code, `tensor '${name}': ${e.message}`, { cause: e, details: e.details });
    throw e;
  }
}

function requireLittleEndian(): void {
  // Typed arrays use the platform's byte order and safetensors is little-endian.
  if (!PLATFORM_LITTLE_ENDIAN) throw new QuantError('UNSUPPORTED', 'safetensors files are little-endian: this platform is big-endian');
}

/** The parameters of one tensor: min/max (PyTorch MinMaxObserver) or the observer's range. */
function paramsFor(x: Float32Array, shape: readonly number[], opts: SafetensorsQuantizeOptions, granularity: Granularity): QParams {
  const scheme = { dtype: opts.dtype, symmetric: opts.symmetric, narrow: opts.narrow, granularity };
  if (!opts.observer || opts.observer.name === 'minmax') return computeQParams(x, shape, { ...scheme, allowInf: opts.allowInf });
  if (granularity.kind === 'per-block') throw new QuantError('UNSUPPORTED', `per-block parameters are chosen by min/max only, not observer '${opts.observer.name}'`);
  if (opts.allowInf) throw new QuantError('UNSUPPORTED', `observer '${opts.observer.name}' does not accept infinities: drop allowInf or use minmax`);
  const o = createObserver(opts.observer.name, { ...opts.observer.options, ...(granularity.kind === 'per-axis' ? { axis: granularity.axis } : {}) });
  o.update(x, shape);
  const range = o.range(scheme);
  return qparamsFromRange(range.min, range.max, shape, scheme);
}

/** Little-endian bytes of float32 values stored as `dtype` (16-bit results in the buffers' memory). */
function floatBytes(values: Float32Array, dtype: SourceFloatDtype, buffers: TensorBuffers): Uint8Array {
  if (dtype === 'F32') return viewBytes(values);
  if (dtype === 'F64') return viewBytes(Float64Array.from(values));
  const bits = buffers.uint16(values.length);
  return viewBytes(dtype === 'F16' ? float32ToFloat16Bits(values, bits) : float32ToBfloat16Bits(values, bits));
}

/** Bytes copied per step when a tensor passes through unchanged. */
const COPY_PIECE = 16 << 20;

/**
 * Reused memory for the tensors of one file, one tensor at a time: float32 values, codes and
 * results live in WebAssembly memory (an arena reset per tensor, which grows to the largest
 * tensor once), so the kernels run in place and no tensor costs fresh pages; raw bytes of other
 * types and unchanged tensors go through one reused buffer.
 */
class TensorBuffers {
  private readonly arena: WasmArena = createWasmArena();
  private raw = new Uint8Array(0);

  constructor(private readonly reader: SafetensorsFileReader) {}

  /** Starts a tensor: everything handed out for the previous one is reused. */
  next(): void {
    this.arena.reset();
  }

  /** The float tensor as float32, F32 read straight into WebAssembly memory. */
  floats(t: SafetensorsTensorInfo): Float32Array {
    const x = this.arena.float32(t.shape.reduce((a, d) => a * d, 1));
    if (t.dtype === 'F32') this.reader.readInto(t, viewBytes(x));
    else floatTensorToFloat32(t.dtype, this.bytes(t), x);
    return x;
  }

  /** The tensor's bytes in the reused buffer (valid until the next call). */
  bytes(t: SafetensorsTensorInfo, offset = 0, length = t.end - t.begin - offset): Uint8Array {
    if (this.raw.length < length) this.raw = new Uint8Array(length);
    const view = this.raw.subarray(0, length);
    this.reader.readInto(t, view, offset);
    return view;
  }

  /** Copies a tensor's bytes to the sink in pieces, without holding all of a large one. */
  copy(t: SafetensorsTensorInfo, sink: ByteSink): void {
    const size = t.end - t.begin;
    for (let off = 0; off < size; off += COPY_PIECE) sink.write(this.bytes(t, off, Math.min(COPY_PIECE, size - off)));
  }

  float32(n: number): Float32Array {
    return this.arena.float32(n);
  }

  codes(storage: CodeStorage, n: number) {
    return this.arena.codes(storage, n);
  }

  uint8(n: number): Uint8Array {
    return this.arena.uint8(n);
  }

  uint16(n: number): Uint16Array {
    const b = this.arena.uint8(2 * n);
    return new Uint16Array(b.buffer, b.byteOffset, n);
  }

  free(): void {
    this.arena.free();
  }
}

/**
 * Streams a file's tensors to the sink in order: those not chosen are copied as they are, each
 * chosen one is handed to `each` as float32 in reused memory (which writes what it becomes).
 * Progress counts the chosen tensors' elements.
 */
function eachChosenTensor(
  reader: SafetensorsFileReader,
  chosen: readonly SafetensorsTensorInfo[],
  sink: ByteSink,
  onProgress: ((done: number, total: number) => void) | undefined,
  each: (t: SafetensorsTensorInfo, x: Float32Array, buffers: TensorBuffers) => void,
): void {
  const names = new Set(chosen.map((t) => t.name));
  const total = chosen.reduce((a, t) => a + t.shape.reduce((p, d) => p * d, 1), 0);
  let done = 0;
  withBuffers(reader, (buffers) => {
    for (const t of reader.header.tensors) {
      buffers.next();
      if (!names.has(t.name)) {
        buffers.copy(t, sink);
        continue;
      }
      const x = buffers.floats(t);
      each(t, x, buffers);
      done += x.length;
      onProgress?.(done, total);
    }
  });
}

/** Quantize and fake-quant take float files, not one quantkit already quantized. */
function refuseQuantized(reader: SafetensorsFileReader): void {
  const format = reader.header.metadata[FORMAT_KEY];
  if (format !== undefined) throw new QuantError('UNSUPPORTED', `'${reader.path}' is already quantized by quantkit (${format}): dequantize it first`);
}

/** Runs `work` with a file's reused buffers, freed whatever happens. */
function withBuffers<T>(reader: SafetensorsFileReader, work: (buffers: TensorBuffers) => T): T {
  const buffers = new TensorBuffers(reader);
  try {
    return work(buffers);
  } finally {
    buffers.free();
  }
}

function viewBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function copyMetadata(metadata: Readonly<Record<string, string>>, drop: (key: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).filter(([k]) => !drop(k)));
}

/**
 * Quantizes the chosen tensors of a .safetensors file into a new one laid out as
 * formats/quantized-safetensors.ts describes (codes, scales and zero points as tensors, the scheme
 * in the metadata), copying every other tensor unchanged. The header goes first: the scheme of
 * every tensor's parameters is known before its values (dtype, granularity, parameter shape),
 * so one pass over the input writes the file, holding one tensor at a time.
 */
export function quantizeSafetensorsFile(reader: SafetensorsFileReader, sink: ByteSink, opts: SafetensorsQuantizeOptions): SafetensorsQuantizeResult {
  requireLittleEndian();
  refuseQuantized(reader);
  const header = reader.header;
  const dtype = getQuantDtype(opts.dtype);
  const pack = opts.pack ?? false;
  if (pack && dtype.perByte === 0) throw new QuantError('UNSUPPORTED', `packing applies to 2- and 4-bit codes, got ${dtype.name} (${dtype.bits} bits)`);
  const granularity = opts.granularity ?? PER_TENSOR;
  const { qmin, qmax } = quantRange(dtype, opts.narrow ?? false);
  const { chosen, kept } = chooseOrFail(reader, opts);
  const chosenNames = new Set(chosen.map((t) => t.name));

  const specs: SafetensorsTensorSpec[] = [];
  const metadata: Record<string, string> = { ...header.metadata, [FORMAT_KEY]: QUANTKIT_SAFETENSORS_FORMAT };
  for (const t of header.tensors) {
    if (!chosenNames.has(t.name)) {
      specs.push({ name: t.name, dtype: t.dtype, shape: t.shape });
      continue;
    }
    for (const extra of [scaleTensorName(t.name), zeroPointTensorName(t.name)]) {
      if (reader.has(extra)) throw new QuantError('UNSUPPORTED', `tensor '${extra}' already exists, and quantkit stores the parameters of '${t.name}' under that name`);
    }
    const layout = inTensor(t.name, () => blockLayout(t.shape, granularity));
    const n = layout.size;
    specs.push({ name: t.name, dtype: pack ? 'U8' : CODES_DTYPE[dtype.storage], shape: pack ? [packedLength(n, dtype)] : t.shape });
    specs.push({ name: scaleTensorName(t.name), dtype: 'F32', shape: layout.paramShape });
    specs.push({ name: zeroPointTensorName(t.name), dtype: 'I32', shape: layout.paramShape });
    const scheme = { dtype: dtype.name, symmetric: opts.symmetric ?? false, narrow: opts.narrow ?? false, qmin, qmax, granularity, paramShape: layout.paramShape };
    metadata[entryKey(t.name)] = encodeQuantizedEntry(scheme, t.dtype as SourceFloatDtype, pack ? t.shape : undefined);
  }
  sink.write(encodeSafetensorsHeader(specs, metadata).bytes);

  const quantized: SafetensorsTensorResult[] = [];
  eachChosenTensor(reader, chosen, sink, opts.onProgress, (t, x, buffers) => {
    const codes = buffers.codes(dtype.storage, x.length);
    const params = inTensor(t.name, () => {
      const p = paramsFor(x, t.shape, opts, granularity);
      quantize(x, t.shape, { params: p, allowInf: opts.allowInf, rounding: opts.rounding, seed: opts.seed, validate: false, out: codes });
      return p;
    });
    // The header was written from the scheme before the values existed: they must agree.
    if (encodeQuantizedEntry(params, t.dtype as SourceFloatDtype, pack ? t.shape : undefined) !== metadata[entryKey(t.name)]) {
      throw new Error(`internal: the parameters of '${t.name}' do not match the scheme written in the header`);
    }
    if (pack) {
      const out = buffers.uint8(packedLength(codes.length, dtype));
      getKernels().pack(codes as Int8Array | Uint8Array, dtype.bits as 2 | 4, out);
      sink.write(out);
    } else {
      sink.write(viewBytes(codes));
    }
    sink.write(viewBytes(params.scale));
    sink.write(viewBytes(params.zeroPoint));
    quantized.push({ name: t.name, shape: t.shape, sourceDtype: t.dtype as SourceFloatDtype, params });
  });
  return { quantized, kept: kept.map((t) => t.name) };
}

/**
 * dequantize(quantize(x)) for the chosen tensors, written back in their own float type (so the
 * file loads wherever the original did and shows the quantization error), every other tensor and
 * the metadata unchanged.
 */
export function fakeQuantizeSafetensorsFile(reader: SafetensorsFileReader, sink: ByteSink, opts: Omit<SafetensorsQuantizeOptions, 'pack'>): SafetensorsQuantizeResult {
  requireLittleEndian();
  refuseQuantized(reader);
  const header = reader.header;
  getQuantDtype(opts.dtype);
  const granularity = opts.granularity ?? PER_TENSOR;
  const { chosen, kept } = chooseOrFail(reader, opts);
  for (const t of chosen) inTensor(t.name, () => blockLayout(t.shape, granularity));
  sink.write(encodeSafetensorsHeader(header.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })), header.metadata).bytes);
  const quantized: SafetensorsTensorResult[] = [];
  eachChosenTensor(reader, chosen, sink, opts.onProgress, (t, x, buffers) => {
    const values = buffers.float32(x.length);
    const params = inTensor(t.name, () => {
      const p = paramsFor(x, t.shape, opts, granularity);
      if (opts.rounding === 'stochastic') {
        const codes = buffers.codes(getQuantDtype(p.dtype).storage, x.length);
        quantize(x, t.shape, { params: p, rounding: 'stochastic', seed: opts.seed, allowInf: opts.allowInf, validate: false, out: codes });
        dequantize(codes, t.shape, p, { out: values });
      } else {
        fakeQuantize(x, t.shape, { params: p, allowInf: opts.allowInf, validate: false, out: values });
      }
      return p;
    });
    sink.write(floatBytes(values, t.dtype as SourceFloatDtype, buffers));
    quantized.push({ name: t.name, shape: t.shape, sourceDtype: t.dtype as SourceFloatDtype, params });
  });
  return { quantized, kept: kept.map((t) => t.name) };
}

export interface SafetensorsDequantizeOptions {
  /** The float type of the restored tensors: each tensor's own ('source', default) or one for all. */
  readonly outDtype?: 'source' | SourceFloatDtype;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Restores the float tensors of a file quantize wrote: each quantized tensor dequantized
 * ((q − zero_point) · scale in float32, as ONNX DequantizeLinear) and stored in its source float
 * type, or `outDtype`; its scale and zero point tensors and quantkit's metadata dropped; every
 * other tensor copied unchanged.
 */
export function dequantizeSafetensorsFile(reader: SafetensorsFileReader, sink: ByteSink, opts: SafetensorsDequantizeOptions = {}): SafetensorsQuantizeResult {
  requireLittleEndian();
  const header = reader.header;
  const names = quantizedTensorNames(header);
  if (!names) throw new QuantError('UNSUPPORTED', `'${reader.path}' was not written by quantkit quantize (its metadata has no "${FORMAT_KEY}" key)`);
  const entries = new Map(
    names.map((name) => {
      const t = reader.tensor(name);
      const scale = readTyped(reader, scaleTensorName(name), 'F32', (b) => new Float32Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / 4));
      const zeroPoint = readTyped(reader, zeroPointTensorName(name), 'I32', (b) => new Int32Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / 4));
      const entry = decodeQuantizedEntry(name, header.metadata[entryKey(name)]!, scale, zeroPoint);
      const shape = entry.packedShape ?? t.shape;
      const dtype = getQuantDtype(entry.params.dtype);
      const n = shape.reduce((a, d) => a * d, 1);
      const want = entry.packedShape ? { dtype: 'U8', shape: [packedLength(n, dtype)] } : { dtype: CODES_DTYPE[dtype.storage], shape };
      if (t.dtype !== want.dtype || t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i])) {
        throw new QuantError('MALFORMED_FILE', `quantized tensor '${name}': expected ${want.dtype} [${want.shape.join(', ')}] codes for ${dtype.name}${entry.packedShape ? ' packed' : ''}, got ${t.dtype} [${t.shape.join(', ')}]`);
      }
      inTensor(name, () => blockLayout(shape, entry.params.granularity));
      return [name, { entry, shape, outDtype: opts.outDtype === undefined || opts.outDtype === 'source' ? entry.sourceDtype : opts.outDtype }] as const;
    }),
  );
  const parameterTensors = new Set(names.flatMap((n) => [scaleTensorName(n), zeroPointTensorName(n)]));
  const specs: SafetensorsTensorSpec[] = [];
  for (const t of header.tensors) {
    if (parameterTensors.has(t.name)) continue;
    const e = entries.get(t.name);
    specs.push(e ? { name: t.name, dtype: e.outDtype, shape: e.shape } : { name: t.name, dtype: t.dtype, shape: t.shape });
  }
  const metadata = copyMetadata(header.metadata, (k) => k === FORMAT_KEY || (k.startsWith('quantkit.') && entries.has(k.slice('quantkit.'.length))));
  sink.write(encodeSafetensorsHeader(specs, metadata).bytes);
  let done = 0;
  const total = [...entries.values()].reduce((a, e) => a + e.shape.reduce((p, d) => p * d, 1), 0);
  const restored: SafetensorsTensorResult[] = [];
  withBuffers(reader, (buffers) => {
    for (const t of header.tensors) {
      if (parameterTensors.has(t.name)) continue;
      buffers.next();
      const e = entries.get(t.name);
      if (!e) {
        buffers.copy(t, sink);
        continue;
      }
      const { params, packedShape } = e.entry;
      const dtype = getQuantDtype(params.dtype);
      const n = e.shape.reduce((a, d) => a * d, 1);
      const codes = buffers.codes(dtype.storage, n);
      if (packedShape) {
        getKernels().unpack(buffers.bytes(t), dtype.bits as 2 | 4, dtype.signed, codes as Int8Array | Uint8Array);
      } else {
        reader.readInto(t, viewBytes(codes));
      }
      const values = buffers.float32(n);
      inTensor(t.name, () => dequantize(codes, e.shape, params, { out: values }));
      sink.write(floatBytes(values, e.outDtype, buffers));
      restored.push({ name: t.name, shape: e.shape, sourceDtype: e.entry.sourceDtype, params });
      done += values.length;
      opts.onProgress?.(done, total);
    }
  });
  return { quantized: restored, kept: header.tensors.filter((t) => !entries.has(t.name) && !parameterTensors.has(t.name)).map((t) => t.name) };
}

function readTyped<T>(reader: SafetensorsFileReader, name: string, dtype: SafetensorsDtype, view: (bytes: Uint8Array) => T): T {
  if (!reader.has(name)) throw new QuantError('MALFORMED_FILE', `'${reader.path}' lacks tensor '${name}', which its quantkit metadata needs`);
  const t = reader.tensor(name);
  if (t.dtype !== dtype) throw new QuantError('MALFORMED_FILE', `tensor '${name}' must be ${dtype}, got ${t.dtype}`);
  return view(reader.readBytes(t));
}
