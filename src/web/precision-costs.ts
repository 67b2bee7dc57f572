import type { CodeArray, QuantDtypeName } from '../core/dtypes.js';
import { codeStorageOf } from '../core/dtypes.js';
import { float16BitsToFloat32 } from '../core/float16.js';
import type { QParams } from '../core/qparams.js';
import { dequantize, quantize } from '../core/quantize.js';
import { configFromSnakeCase } from '../contract/config-names.js';
import { Quantizer } from '../engine/quantizer.js';
import type { NpyArray } from '../formats/npy.js';
import { errorMeasures, type ErrorMeasures } from '../core/error-measures.js';

/** The fixed schemes the Try it view always prices: per-tensor, asymmetric, min/max range (PyTorch's MinMaxObserver). */
export const PRESET_DTYPES = ['int8', 'uint8', 'int4'] as const satisfies readonly QuantDtypeName[];
export type PresetDtype = (typeof PRESET_DTYPES)[number];

/** What quantizing x one way costs, and the codes to download. */
export interface PrecisionCost {
  readonly label: string;
  readonly measures: ErrorMeasures;
  /** Parameters the codes were made with (null for FLOAT16 / NONE instance configs). */
  readonly params: QParams | null;
  /** The quantized array as it would be saved: codes (int4 codes in int8 storage), float16 bits or float32. */
  readonly output: NpyArray;
}

/**
 * x quantized per tensor to `dtype` with asymmetric min/max parameters, then dequantized:
 * q = clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax), x̂ = scale · (q − zeroPoint).
 */
export function presetCost(x: Float32Array, shape: readonly number[], dtype: PresetDtype): PrecisionCost {
  const { codes, params } = quantize(x, shape, { dtype });
  const restored = dequantize(codes, shape, params);
  return { label: dtype, measures: errorMeasures(x, restored), params, output: codesArray(codes, shape) };
}

/**
 * x through a Quantizer with an instance's config (snake_case, as GET /instances/{id}/config
 * answers) and, when given, its exported parameters (GET /instances/{id}/parameters), so a
 * CALIBRATED instance uses its calibrated range: the same engine the service runs, in the page.
 */
export function instanceCost(label: string, x: Float32Array, shape: readonly number[], config: Record<string, unknown>, parameters: unknown | null): PrecisionCost {
  const q = new Quantizer(configFromSnakeCase(config));
  if (parameters !== null && parameters !== undefined) q.importParameters(parameters);
  const r = q.quantize({ data: x, shape });
  if (r.kind === 'none') {
    return { label, measures: errorMeasures(x, r.codes), params: null, output: { dtype: 'float32', shape: [...shape], data: r.codes } };
  }
  if (r.kind === 'float16') {
    return { label, measures: errorMeasures(x, float16BitsToFloat32(r.codes)), params: null, output: { dtype: 'float16', shape: [...shape], data: r.codes } };
  }
  const restored = q.dequantize({ data: r.codes, shape: r.shape }, { params: r.params, shape: r.shape }).values;
  return { label, measures: errorMeasures(x, restored), params: r.params, output: codesArray(r.codes, shape) };
}

function codesArray(codes: CodeArray, shape: readonly number[]): NpyArray {
  const dtype = codeStorageOf(codes)!;
  return { dtype, shape: [...shape], data: codes };
}
