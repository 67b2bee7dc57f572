// The ONNX specification's own test cases for QuantizeLinear, DequantizeLinear and
// DynamicQuantizeLinear (test/fixtures/onnx-conformance, from ONNX's backend node tests), run
// through quantkit's core. Skipped cases: none. Every case must run and match exactly.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Granularity, QParams, QuantDtypeName } from '../../src/core/index.js';
import { allocCodes, dequantize, getQuantDtype, isQuantDtypeName, PER_TENSOR, quantize, quantRange } from '../../src/core/index.js';
import { dynamicQuantizeLinear } from '../../src/core/dynamic-quantize-linear.js';
import type { Float8Name } from '../../src/core/float8.js';
import { defineFloatFormat, dequantizeFloat8, FLOAT8_FORMATS, float32ToFloat8, float8ToFloat32, quantizeFloat8 } from '../../src/core/float8.js';

interface Tensor {
  dtype: string;
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  node: { op_type: string; inputs: string[]; outputs: string[]; attributes: { axis?: number; block_size?: number; output_dtype?: string } };
  inputs: Tensor[];
  outputs: Tensor[];
}

const cases = JSON.parse(
  readFileSync(new URL('../fixtures/onnx-conformance/onnx-quantization-cases.json', import.meta.url), 'utf8'),
) as Case[];

/** Cases this suite does not run, with the reason. Empty: every case passes. */
const SKIPPED: Record<string, string> = {};

const FLOAT16 = defineFloatFormat('float16', 5, 10, 15, 'ieee');

type Kind = { kind: 'int'; name: QuantDtypeName } | { kind: 'float8'; name: Float8Name } | { kind: 'float32' } | { kind: 'float16' };

function typeOf(dtype: string): Kind {
  const lower = dtype.toLowerCase();
  if (lower === 'float32') return { kind: 'float32' };
  if (lower === 'float16') return { kind: 'float16' };
  if (isQuantDtypeName(lower)) return { kind: 'int', name: lower };
  if (lower in FLOAT8_FORMATS) return { kind: 'float8', name: lower as Float8Name };
  throw new Error(`conformance file uses an unexpected dtype ${dtype}`);
}

/** ONNX: a one-element scale is per-tensor; with block_size it is blocked; else per-axis (axis defaults to 1). */
function granularityOf(c: Case, scale: Tensor): Granularity {
  const axis = c.node.attributes.axis ?? 1;
  if (scale.data.length === 1) return PER_TENSOR;
  const blockSize = c.node.attributes.block_size ?? 0;
  return blockSize > 0 ? { kind: 'per-block', axis, blockSize } : { kind: 'per-axis', axis };
}

function intParams(dtype: QuantDtypeName, granularity: Granularity, scale: Tensor, zeroPoint: Tensor | undefined): QParams {
  const n = scale.data.length;
  return {
    dtype,
    symmetric: false,
    narrow: false,
    ...quantRange(getQuantDtype(dtype)),
    granularity,
    // ONNX writes a per-tensor scale as [] or [1]; ours is [] and the rest is ONNX's shape.
    paramShape: granularity.kind === 'per-tensor' ? [] : scale.shape,
    scale: Float32Array.from(scale.data, Math.fround),
    zeroPoint: zeroPoint ? Int32Array.from(zeroPoint.data) : new Int32Array(n),
  };
}

/** Float values of a float8 / float4 tensor as codes (checking each is representable). */
function float8Codes(t: Tensor, name: Float8Name): Uint8Array {
  const format = FLOAT8_FORMATS[name];
  return Uint8Array.from(t.data, (v) => {
    const code = float32ToFloat8(v, format);
    expect(float8ToFloat32(code, format)).toBe(v);
    return code;
  });
}

const f32All = (a: number[]): number[] => a.map(Math.fround);

function runQuantizeLinear(c: Case): void {
  const [x, scale, zeroPoint] = c.inputs;
  const [y] = c.outputs;
  const outType = typeOf(zeroPoint?.dtype ?? c.node.attributes.output_dtype ?? 'uint8');
  expect(typeOf(y.dtype)).toEqual(outType);
  const granularity = granularityOf(c, scale);
  const xs = Float32Array.from(x.data, Math.fround);
  if (outType.kind === 'int') {
    const { codes } = quantize(xs, x.shape, { params: intParams(outType.name, granularity, scale, zeroPoint) });
    expect(Array.from(codes)).toEqual(y.data);
  } else if (outType.kind === 'float8') {
    const codes = quantizeFloat8(xs, x.shape, {
      format: outType.name,
      scale: Float32Array.from(scale.data, Math.fround),
      zeroPoint: zeroPoint ? float8Codes(zeroPoint, outType.name) : undefined,
      granularity,
    });
    expect(Array.from(codes, (q) => float8ToFloat32(q, FLOAT8_FORMATS[outType.name]))).toEqual(f32All(y.data));
  } else {
    throw new Error(`QuantizeLinear to ${y.dtype} is not a quantized type`);
  }
}

function runDequantizeLinear(c: Case): void {
  const [x, scale, zeroPoint] = c.inputs;
  const [y] = c.outputs;
  const inType = typeOf(x.dtype);
  const granularity = granularityOf(c, scale);
  let values: Float32Array;
  if (inType.kind === 'int') {
    const codes = allocCodes(getQuantDtype(inType.name), x.data.length);
    codes.set(x.data);
    values = dequantize(codes, x.shape, intParams(inType.name, granularity, scale, zeroPoint));
  } else if (inType.kind === 'float8') {
    values = dequantizeFloat8(float8Codes(x, inType.name), x.shape, {
      format: inType.name,
      scale: Float32Array.from(scale.data, Math.fround),
      zeroPoint: zeroPoint ? float8Codes(zeroPoint, inType.name) : undefined,
      granularity,
    });
  } else {
    throw new Error(`DequantizeLinear from ${x.dtype} is not a quantized type`);
  }
  const outType = typeOf(y.dtype);
  // The output has the scale's type: a float16 scale means the float32 result is rounded to float16.
  const got = outType.kind === 'float16' ? Array.from(values, (v) => float8ToFloat32(float32ToFloat8(v, FLOAT16, false), FLOAT16)) : Array.from(values);
  expect(outType.kind === 'float32' || outType.kind === 'float16').toBe(true);
  expect(got).toEqual(f32All(y.data));
}

function runDynamicQuantizeLinear(c: Case): void {
  const [x] = c.inputs;
  const [y, scale, zeroPoint] = c.outputs;
  const r = dynamicQuantizeLinear(Float32Array.from(x.data, Math.fround));
  expect(Array.from(r.y)).toEqual(y.data);
  expect(r.scale).toBe(Math.fround(scale.data[0]));
  expect(r.zeroPoint).toBe(zeroPoint.data[0]);
}

const RUNNERS: Record<string, (c: Case) => void> = {
  QuantizeLinear: runQuantizeLinear,
  DequantizeLinear: runDequantizeLinear,
  DynamicQuantizeLinear: runDynamicQuantizeLinear,
};

describe('ONNX conformance (backend node tests)', () => {
  it('has all 30 cases and skips none', () => {
    expect(cases).toHaveLength(30);
    const byOp = cases.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.node.op_type]: (acc[c.node.op_type] ?? 0) + 1 }), {});
    expect(byOp).toEqual({ QuantizeLinear: 13, DequantizeLinear: 14, DynamicQuantizeLinear: 3 });
    expect(Object.keys(SKIPPED)).toEqual([]);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (name, c) => {
    if (SKIPPED[name]) return;
    const run = RUNNERS[c.node.op_type];
    expect(run, `no runner for ${c.node.op_type}`).toBeDefined();
    run(c);
  });
});
