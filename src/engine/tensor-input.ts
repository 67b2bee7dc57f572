import type { CodeArray, CodeStorage } from '../core/dtypes.js';
import { codeArrayConstructor, codeStorageOf } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import { shapeSize, validateShape } from '../core/layout.js';

type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/** A nested array of numbers of any rank (a number alone is a scalar, rank 0). */
export type NestedNumbers = number | readonly NestedNumbers[];

/**
 * What the Quantizer accepts as a tensor:
 * - a typed array (rank 1) or `{ data, shape }` with a typed array or number[] in C order;
 * - number[] and nested arrays of any rank (ragged is an error);
 * - an onnxruntime-common Tensor, duck-typed as `{ type, data, dims }` (float32 data is used without a copy).
 */
export type TensorInput =
  | NumericArray
  | NestedNumbers
  | { readonly data: NumericArray | readonly number[]; readonly shape: readonly number[] }
  | { readonly type: string; readonly data: unknown; readonly dims: readonly number[] };

export interface FloatTensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
  /** False when `data` is the caller's own array (no copy was made). */
  readonly copied: boolean;
}

export interface CodeTensor {
  readonly codes: CodeArray;
  readonly shape: readonly number[];
  readonly copied: boolean;
}

const FLOAT_TYPED = [Float32Array, Float64Array, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array];

function isNumericArray(v: unknown): v is NumericArray {
  return FLOAT_TYPED.some((C) => v instanceof C);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)}`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

/** Shape of a nested array by its first elements; the fill pass checks every other element against it. */
function nestedShape(a: readonly unknown[]): number[] {
  const shape: number[] = [];
  let cur: unknown = a;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return shape;
}

type Sink = (index: number, v: number, path: () => string) => void;

function fillNested(a: readonly unknown[], shape: readonly number[], sink: Sink, what: string): void {
  const rank = shape.length;
  let k = 0;
  const idx: number[] = new Array(rank).fill(0);
  let at = 0;
  // Indices deeper than the current depth are stale from an earlier sibling, so the path stops at `at`.
  const path = () => `[${idx.slice(0, at + 1).join(', ')}]`;
  const walk = (node: readonly unknown[], depth: number): void => {
    if (node.length !== shape[depth]) {
      throw new QuantError('SHAPE_MISMATCH', `${what} is ragged: the array at [${idx.slice(0, depth).join(', ')}] has length ${node.length}, expected ${shape[depth]} (shape [${shape.join(', ')}] from the first elements)`);
    }
    at = depth;
    if (depth === rank - 1) {
      for (let i = 0; i < node.length; i++) {
        const v = node[i];
        idx[depth] = i;
        if (typeof v !== 'number') {
          throw new QuantError(
            Array.isArray(v) ? 'SHAPE_MISMATCH' : 'INVALID_ARGUMENT',
            Array.isArray(v) ? `${what} is ragged: expected a number at ${path()}, got an array` : `${what}: expected a number at ${path()}, got ${describe(v)}`,
          );
        }
        sink(k++, v, path);
      }
      return;
    }
    for (let i = 0; i < node.length; i++) {
      idx[depth] = i;
      at = depth;
      const child = node[i];
      if (!Array.isArray(child)) {
        throw new QuantError('SHAPE_MISMATCH', `${what} is ragged: expected an array at ${path()}, got ${describe(child)}`);
      }
      walk(child, depth + 1);
    }
  };
  walk(a, 0);
}

function checkShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number')) {
    throw new QuantError('SHAPE_MISMATCH', `${what}: expected a shape (array of non-negative integers), got ${describe(shape)}`);
  }
  validateShape(shape);
  return [...shape];
}

function checkLength(n: number, shape: readonly number[], what: string): void {
  if (shapeSize(shape) !== n) {
    throw new QuantError('SHAPE_MISMATCH', `${what}: shape [${shape.join(', ')}] has ${shapeSize(shape)} elements but the data has ${n}`);
  }
}

/** Splits any accepted input into flat values (typed array, number[] or nested) and a shape. */
function unwrap(input: unknown, what: string): { flat: NumericArray | readonly number[] | BigInt64Array | BigUint64Array | null; nested: readonly unknown[] | null; shape: number[] } {
  if (typeof input === 'number') return { flat: [input], nested: null, shape: [] };
  if (isNumericArray(input)) return { flat: input, nested: null, shape: [input.length] };
  if (Array.isArray(input)) return { flat: null, nested: input, shape: nestedShape(input) };
  if (input !== null && typeof input === 'object') {
    const o = input as Record<string, unknown>;
    const dims = 'dims' in o ? o.dims : o.shape;
    const data = o.data;
    if (dims !== undefined && data !== undefined) {
      const shape = checkShape(dims, what);
      if (isNumericArray(data) || data instanceof BigInt64Array || data instanceof BigUint64Array) {
        checkLength(data.length, shape, what);
        return { flat: data, nested: null, shape };
      }
      if (Array.isArray(data)) {
        if (data.some((v) => typeof v !== 'number')) {
          const i = data.findIndex((v) => typeof v !== 'number');
          throw new QuantError('INVALID_ARGUMENT', `${what}: expected a number at [${i}], got ${describe(data[i])}`);
        }
        checkLength(data.length, shape, what);
        return { flat: data as number[], nested: null, shape };
      }
      throw new QuantError('INVALID_ARGUMENT', `${what}: expected data to be a typed array or number[], got ${describe(data)}${'type' in o ? ` (tensor type '${String(o.type)}')` : ''}`);
    }
  }
  throw new QuantError(
    'INVALID_ARGUMENT',
    `${what}: expected a typed array, a (nested) number array, { data, shape } or a Tensor { type, data, dims }, got ${describe(input)}`,
  );
}

/** Normalises input to float32 values in C order; a Float32Array is used as is (no copy). */
export function toFloatTensor(input: unknown, what = 'data'): FloatTensor {
  const { flat, nested, shape } = unwrap(input, what);
  if (flat instanceof Float32Array) return { data: flat, shape, copied: false };
  if (nested) {
    const out = new Float32Array(shapeSize(shape));
    fillNested(nested, shape, (k, v) => {
      out[k] = v;
    }, what);
    return { data: out, shape, copied: true };
  }
  const src = flat!;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  return { data: out, shape, copied: true };
}

/**
 * Normalises codes to the storage array of a dtype, checking that every code is an integer in
 * [qmin, qmax]; an array already of that storage is used as is (no copy, and not range-checked:
 * its element type already bounds it, and dequantize of any stored code is defined).
 */
export function toCodeTensor(input: unknown, storage: CodeStorage, qmin: number, qmax: number, what = 'codes'): CodeTensor {
  const { flat, nested, shape } = unwrap(input, what);
  if (flat && ArrayBuffer.isView(flat) && codeStorageOf(flat) === storage && !(flat instanceof Uint8ClampedArray)) {
    return { codes: flat as CodeArray, shape, copied: false };
  }
  const out = new (codeArrayConstructor(storage))(shapeSize(shape)) as CodeArray;
  const put = (k: number, v: number, path: () => string) => {
    if (!Number.isInteger(v) || v < qmin || v > qmax) {
      throw new QuantError('INVALID_ARGUMENT', `${what}: expected an integer code in ${qmin}..${qmax} at ${path()}, got ${v}`);
    }
    out[k] = v;
  };
  if (nested) fillNested(nested, shape, put, what);
  else {
    const src = flat!;
    for (let i = 0; i < src.length; i++) put(i, Number(src[i]), () => `[${i}]`);
  }
  return { codes: out, shape, copied: true };
}

/** Re-nests flat values into arrays of the given shape (the inverse of the nested-array input). */
export function toNestedArray(values: ArrayLike<number>, shape: readonly number[]): NestedNumbers {
  if (shape.length === 0) return values[0];
  let k = 0;
  const build = (depth: number): NestedNumbers[] => {
    const n = shape[depth];
    const out: NestedNumbers[] = new Array(n);
    if (depth === shape.length - 1) {
      for (let i = 0; i < n; i++) out[i] = values[k++];
    } else {
      for (let i = 0; i < n; i++) out[i] = build(depth + 1);
    }
    return out;
  };
  return build(0);
}
