import type { QuantDtypeName } from '../core/dtypes.js';
import { isQuantDtypeName, QUANT_DTYPE_NAMES, QUANT_DTYPES, quantRange } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import type { Granularity } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';

/**
 * quantkit's persisted quantization parameters (the library's and the CLI's export format), as
 * plain JSON: x ≈ scale · (q − zero_point), q in [qmin, qmax]. scale and zero_point are flat in C
 * order over param_shape ([] per tensor, [channels] per channel, the tensor's shape with the axis
 * divided into ceil(d / block_size) blocks per block). Example:
 *
 *   { "format": "quantkit.params", "version": 1, "dtype": "int8", "bits": 8, "signed": true,
 *     "symmetric": false, "narrow": false, "granularity": "per_tensor", "axis": null,
 *     "block_size": null, "qmin": -128, "qmax": 127, "scale": [0.01568627543747425],
 *     "zero_point": [-64], "param_shape": [] }
 */
export interface ParamsFileV1 {
  format: 'quantkit.params';
  version: 1;
  dtype: QuantDtypeName;
  bits: number;
  signed: boolean;
  symmetric: boolean;
  narrow: boolean;
  granularity: 'per_tensor' | 'per_channel' | 'per_block';
  axis: number | null;
  block_size: number | null;
  qmin: number;
  qmax: number;
  /** float32 values written as JS numbers: each prints as the shortest decimal that parses back to the same float32. */
  scale: number[];
  zero_point: number[];
  param_shape: number[];
}

export const PARAMS_FORMAT = 'quantkit.params';
export const PARAMS_VERSION = 1;

const FIELDS = ['format', 'version', 'dtype', 'bits', 'signed', 'symmetric', 'narrow', 'granularity', 'axis', 'block_size', 'qmin', 'qmax', 'scale', 'zero_point', 'param_shape'];

/** How a received value reads in an error message. */
function show(v: unknown, depth = 0): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  // Depth-bounded: a hostile file nests arrays deeper than the stack ("[[[[..." 200,000 deep).
  if (Array.isArray(v)) return v.length > 8 ? `an array of ${v.length} items` : depth >= 3 ? '[...]' : `[${v.map((e) => show(e, depth + 1)).join(', ')}]`;
  return typeof v === 'object' ? 'an object' : typeof v;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isNumber = (v: unknown): v is number => typeof v === 'number';

/** One field's check: the predicate, and what the message says was expected. */
type FieldCheck = readonly [what: string, ok: (v: unknown) => boolean];

/**
 * The fields of a params file besides the two arrays: the scheme (dtype, range, granularity,
 * shapes), each a predicate with one message, "expected <what>, got <value>". Plain checks rather
 * than a zod schema: the CLI reads and writes params files, and zod's start-up (~50 ms) would be
 * most of a small run.
 */
const schemeFields: Record<string, FieldCheck> = {
  format: [`'${PARAMS_FORMAT}'`, (v) => v === PARAMS_FORMAT],
  version: ['1', (v) => v === PARAMS_VERSION],
  dtype: [`one of ${QUANT_DTYPE_NAMES.join(', ')}`, (v) => typeof v === 'string' && isQuantDtypeName(v)],
  bits: ['an integer', isInt],
  signed: ['true or false', isBool],
  symmetric: ['true or false', isBool],
  narrow: ['true or false', isBool],
  granularity: ["'per_tensor', 'per_channel' or 'per_block'", (v) => v === 'per_tensor' || v === 'per_channel' || v === 'per_block'],
  axis: ['an integer or null', (v) => v === null || isInt(v)],
  block_size: ['a positive integer or null', (v) => v === null || (isInt(v) && v > 0)],
  qmin: ['an integer', isInt],
  qmax: ['an integer', isInt],
};

/** The array fields: what the array must be, and each element. */
const arrayFields: Record<string, readonly [array: string, element: FieldCheck]> = {
  param_shape: ['an array of non-negative integers', ['a non-negative integer', (v) => isInt(v) && v >= 0]],
  scale: ['an array of numbers', ['a positive finite number', (v) => isNumber(v) && v > 0 && Number.isFinite(v)]],
  zero_point: ['an array of integers', ['an integer', isInt]],
};

type Issue = { path: (string | number)[]; message: string };

/**
 * Every field's own check, in the file's field order (one issue per bad field or array element),
 * then any field the format does not know. `fields` names the fields expected.
 */
function fieldIssues(json: unknown, fields: readonly string[]): Issue[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return [{ path: [], message: `expected a JSON object, got ${show(json)}` }];
  const o = json as Record<string, unknown>;
  const issues: Issue[] = [];
  // The scheme's fields first, then the arrays (the order the messages have always listed them in).
  const values = (f: string) => f === 'scale' || f === 'zero_point';
  for (const f of [...fields.filter((f) => !values(f)), ...fields.filter(values)]) {
    const v = Object.hasOwn(o, f) ? o[f] : undefined;
    const leaf = schemeFields[f];
    if (leaf) {
      if (!leaf[1](v)) issues.push({ path: [f], message: `expected ${leaf[0]}, got ${show(v)}` });
      continue;
    }
    const [array, [what, ok]] = arrayFields[f]!;
    if (!Array.isArray(v)) {
      issues.push({ path: [f], message: `expected ${array}, got ${show(v)}` });
      continue;
    }
    for (let i = 0; i < v.length; i++) if (!ok(v[i])) issues.push({ path: [f, i], message: `expected ${what}, got ${show(v[i])}` });
  }
  const unknown = Object.keys(o).filter((k) => !fields.includes(k));
  if (unknown.length > 0) issues.push({ path: [], message: `unknown field(s) ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${fields.join(', ')})` });
  return issues;
}

/** A scheme whose fields each passed their own check. */
type Scheme = Omit<ParamsFileV1, 'scale' | 'zero_point'>;
type AddIssue = (path: (string | number)[], message: string) => void;

/** How the scheme's fields fit together: bits and sign of the dtype, the range, axis and shape by granularity. */
function checkScheme(p: Scheme, add: AddIssue): void {
  const dtype = QUANT_DTYPES[p.dtype];
  if (p.bits !== dtype.bits) add(['bits'], `dtype ${p.dtype} has ${dtype.bits} bits, got ${p.bits}`);
  if (p.signed !== dtype.signed) add(['signed'], `dtype ${p.dtype} is ${dtype.signed ? 'signed' : 'unsigned'}, got signed: ${p.signed}`);
  if (p.narrow && !dtype.signed) {
    add(['narrow'], `narrow range applies to signed dtypes, got narrow: true for ${p.dtype}`);
  } else {
    const range = quantRange(dtype, p.narrow);
    const which = `${p.dtype}${p.narrow ? ' with narrow range' : ''}`;
    if (p.qmin !== range.qmin) add(['qmin'], `expected ${range.qmin} for ${which}, got ${p.qmin}`);
    if (p.qmax !== range.qmax) add(['qmax'], `expected ${range.qmax} for ${which}, got ${p.qmax}`);
  }
  const rank = p.param_shape.length;
  const shapeText = `[${p.param_shape.join(', ')}]`;
  if (p.granularity === 'per_tensor') {
    if (p.axis !== null) add(['axis'], `per_tensor parameters take no axis (null), got ${p.axis}`);
    if (p.block_size !== null) add(['block_size'], `per_tensor parameters take no block_size (null), got ${p.block_size}`);
    if (rank !== 0) add(['param_shape'], `per_tensor parameters have shape [], got ${shapeText}`);
  } else if (p.granularity === 'per_channel') {
    if (p.axis === null) add(['axis'], 'per_channel parameters need the channel axis, got null');
    if (p.block_size !== null) add(['block_size'], `per_channel parameters take no block_size (null), got ${p.block_size}`);
    if (rank !== 1) add(['param_shape'], `per_channel parameters have shape [channels], got ${shapeText}`);
  } else {
    if (p.block_size === null) add(['block_size'], 'per_block parameters need a block_size, got null');
    if (rank === 0) add(['param_shape'], 'per_block parameters have the shape of the tensor with the axis in blocks, got []');
    if (p.axis === null) add(['axis'], 'per_block parameters need the blocked axis, got null');
    else if (rank > 0 && (p.axis < -rank || p.axis >= rank)) {
      add(['axis'], `expected an axis in [${-rank}, ${rank - 1}] for param_shape ${shapeText}, got ${p.axis}`);
    }
  }
}

/**
 * How scale and zero_point fit the scheme: one of each per parameter, scales positive finite
 * float32 values, zero points integers inside [qmin, qmax]. Reports the first few bad entries only,
 * so a large array of bad values stays a short message and a fast check.
 */
function checkArrays(p: Scheme, scale: ArrayLike<number>, zeroPoint: ArrayLike<number>, add: AddIssue): void {
  const count = p.param_shape.reduce((a, d) => a * d, 1);
  const shapeText = `[${p.param_shape.join(', ')}]`;
  if (scale.length !== count) add(['scale'], `expected ${count} values (the product of param_shape ${shapeText}), got ${scale.length}`);
  if (zeroPoint.length !== count) add(['zero_point'], `expected ${count} values (the product of param_shape ${shapeText}), got ${zeroPoint.length}`);
  let bad = 0;
  for (let i = 0; i < scale.length && bad < 4; i++) {
    const s = scale[i]!;
    if (!(s > 0 && Number.isFinite(s))) add(['scale', i], `expected a positive finite number, got ${s}`), bad++;
    else if (Math.fround(s) !== s) add(['scale', i], `expected a float32 value, got ${s} (the nearest float32 is ${Math.fround(s)})`), bad++;
  }
  const dtype = QUANT_DTYPES[p.dtype];
  if (p.narrow && !dtype.signed) return;
  const range = quantRange(dtype, p.narrow);
  for (let i = 0, badZp = 0; i < zeroPoint.length && badZp < 4; i++) {
    const zp = zeroPoint[i]!;
    if (!Number.isSafeInteger(zp) || zp < range.qmin || zp > range.qmax) add(['zero_point', i], `expected an integer in [${range.qmin}, ${range.qmax}], got ${zp}`), badZp++;
  }
}

/** The params file's fields besides scale and zero_point, in its order. */
export const PARAMS_SCHEME_FIELDS: readonly string[] = FIELDS.filter((f) => f !== 'scale' && f !== 'zero_point');

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : `${s}.${String(k)}`), 'params');
}

function invalid(issues: readonly { path: readonly PropertyKey[]; message: string }[]): QuantError {
  const lines = issues.map((i) => `${fieldPath(i.path)}: ${i.message}`);
  const more = lines.length > 3 ? ` (and ${lines.length - 3} more)` : '';
  return new QuantError('INVALID_PARAMS', lines.slice(0, 3).join('; ') + more, { details: { issues: lines } });
}

/**
 * Reads a params file (already JSON-parsed) into QParams, checking every field and how they fit
 * together; any problem is INVALID_PARAMS naming the field, e.g.
 * "params.scale[3]: expected a positive finite number, got -1".
 */
export function decodeParamsFile(json: unknown): QParams {
  checkFormat(json);
  const issues = fieldIssues(json, FIELDS);
  if (issues.length) throw invalid(issues);
  const p = json as ParamsFileV1;
  checkScheme(p, (path, message) => issues.push({ path, message }));
  checkArrays(p, p.scale, p.zero_point, (path, message) => issues.push({ path, message }));
  if (issues.length) throw invalid(issues);
  return toQParams(p, Float32Array.from(p.scale), Int32Array.from(p.zero_point));
}

/**
 * A params file without its two arrays (the scheme: `encodeParamsScheme`), and the arrays as typed
 * arrays kept elsewhere (tensors of a safetensors file), read into QParams with the same checks as
 * decodeParamsFile. The arrays are taken as they are, not copied.
 */
export function decodeParamsScheme(json: unknown, scale: Float32Array, zeroPoint: Int32Array): QParams {
  checkFormat(json);
  const issues = fieldIssues(json, PARAMS_SCHEME_FIELDS);
  if (issues.length) throw invalid(issues);
  const p = json as Scheme;
  checkScheme(p, (path, message) => issues.push({ path, message }));
  if (issues.length) throw invalid(issues);
  checkArrays(p, scale, zeroPoint, (path, message) => issues.push({ path, message }));
  if (issues.length) throw invalid(issues);
  return toQParams(p, scale, zeroPoint);
}

/** The format and version come first: a file from another tool or a newer quantkit should say so, not list every field this version does not expect. */
function checkFormat(json: unknown): void {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return;
  const { format, version } = json as { format?: unknown; version?: unknown };
  if (format !== PARAMS_FORMAT) throw invalid([{ path: ['format'], message: `expected '${PARAMS_FORMAT}', got ${show(format)}` }]);
  if (version !== PARAMS_VERSION) {
    const message = isInt(version) && version > 0 ? `unsupported params version ${version} (this quantkit reads ${PARAMS_VERSION})` : `expected ${PARAMS_VERSION}, got ${show(version)}`;
    throw invalid([{ path: ['version'], message }]);
  }
}

function toQParams(p: Scheme, scale: Float32Array, zeroPoint: Int32Array): QParams {
  let granularity: Granularity;
  if (p.granularity === 'per_tensor') granularity = Object.freeze({ kind: 'per-tensor' });
  else if (p.granularity === 'per_channel') granularity = Object.freeze({ kind: 'per-axis', axis: p.axis! });
  else granularity = Object.freeze({ kind: 'per-block', axis: p.axis!, blockSize: p.block_size! });
  return Object.freeze({
    dtype: p.dtype,
    symmetric: p.symmetric,
    narrow: p.narrow,
    qmin: p.qmin,
    qmax: p.qmax,
    granularity,
    paramShape: Object.freeze([...p.param_shape]),
    scale,
    zeroPoint,
  });
}

/**
 * Writes QParams as a JSON-ready params file. Scales are float32 values as JS numbers, so
 * JSON.stringify → JSON.parse → decodeParamsFile gives back the same bits. The result is checked
 * as decodeParamsFile would, so a file quantkit writes is one it reads (on the typed arrays, before
 * they become millions of JS numbers).
 */
export function encodeParamsFile(params: QParams): ParamsFileV1 {
  const { param_shape: paramShape, ...rest } = encodeParamsScheme(params);
  // The arrays sit before param_shape, as the format lists them.
  return { ...rest, scale: Array.from(params.scale), zero_point: Array.from(params.zeroPoint), param_shape: paramShape };
}

/** The scheme of parameters, from everything but their values (known before they are computed). */
export function schemeOf(params: Omit<QParams, 'scale' | 'zeroPoint'>): ParamsSchemeV1 {
  const g = params.granularity;
  const dtype = isQuantDtypeName(params.dtype) ? QUANT_DTYPES[params.dtype] : undefined;
  return {
    format: PARAMS_FORMAT,
    version: PARAMS_VERSION,
    dtype: params.dtype,
    bits: dtype?.bits ?? NaN,
    signed: dtype?.signed ?? false,
    symmetric: params.symmetric,
    narrow: params.narrow,
    granularity: g.kind === 'per-tensor' ? 'per_tensor' : g.kind === 'per-axis' ? 'per_channel' : 'per_block',
    axis: g.kind === 'per-tensor' ? null : g.axis,
    block_size: g.kind === 'per-block' ? g.blockSize : null,
    qmin: params.qmin,
    qmax: params.qmax,
    param_shape: [...params.paramShape],
  };
}

/** A params file without scale and zero_point: what decodeParamsScheme reads beside the two arrays. */
export type ParamsSchemeV1 = Omit<ParamsFileV1, 'scale' | 'zero_point'>;

/**
 * The scheme of QParams (encodeParamsFile without the arrays), checked with the arrays as
 * decodeParamsScheme would, without turning them into JSON numbers (they may be millions long).
 */
export function encodeParamsScheme(params: QParams): ParamsSchemeV1 {
  const scheme = schemeOf(params);
  decodeParamsScheme(scheme, params.scale, params.zeroPoint);
  return scheme;
}

/** Parameters as a file stores them: for codes written packed (a flat uint8 array), with the shape of the tensor they encode. */
export interface StoredParams {
  readonly params: QParams;
  /** Set when the codes were written packed: the shape of the tensor they encode. */
  readonly packedShape?: readonly number[];
}

/**
 * The two keys a params file adds for packed codes, "packed": true and "tensor_shape": [..]
 * (read from JSON values): the tensor's shape, or undefined when "packed" is absent or false.
 * Anything else is INVALID_PARAMS.
 */
export function decodePackedShape(packed: unknown, tensorShape: unknown): readonly number[] | undefined {
  if (packed === undefined || packed === false) return undefined;
  if (packed !== true) throw new QuantError('INVALID_PARAMS', `"packed" must be true or false, got ${show(packed)}`);
  if (!Array.isArray(tensorShape) || tensorShape.some((d) => !isInt(d) || d < 0)) {
    throw new QuantError('INVALID_PARAMS', `packed codes need "tensor_shape", an array of non-negative integers, got ${show(tensorShape)}`);
  }
  return [...(tensorShape as number[])];
}
