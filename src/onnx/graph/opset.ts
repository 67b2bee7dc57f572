import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';

/** The ai.onnx opsets quantkit reads and writes: DequantizeLinear exists from 10, and ONNX 1.20 defines up to 25. */
export const SUPPORTED_OPSETS = { min: 7, max: 25 } as const;

/** The version of a domain's opset import ('' and 'ai.onnx' are the default domain), or undefined. */
export function opsetVersion(model: ModelProto, domain: string): number | undefined {
  const isDefault = domain === '' || domain === 'ai.onnx';
  const o = model.opsetImport.find((x) => (isDefault ? x.domain === '' || x.domain === 'ai.onnx' : x.domain === domain));
  return o === undefined ? undefined : Number(o.version);
}

/** The model's default-domain opset, checked against SUPPORTED_OPSETS (UNSUPPORTED saying the range otherwise). */
export function checkOpset(model: ModelProto): number {
  const v = opsetVersion(model, '');
  if (v === undefined) {
    throw new QuantError('UNSUPPORTED', `the model imports no ai.onnx opset: expected an opset import for the default domain (${SUPPORTED_OPSETS.min}..${SUPPORTED_OPSETS.max})`);
  }
  if (v < SUPPORTED_OPSETS.min || v > SUPPORTED_OPSETS.max) {
    throw new QuantError('UNSUPPORTED', `the model uses ai.onnx opset ${v}: quantkit supports opsets ${SUPPORTED_OPSETS.min}..${SUPPORTED_OPSETS.max}`);
  }
  return v;
}
