/**
 * Round half to even of a number (the IEEE 754 default, numpy's rint, torch.round, ONNX's
 * QuantizeLinear). Math.round rounds ties towards +Infinity, so ties are corrected here.
 * Non-finite values pass through.
 */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  // r - v is exactly 0.5 only on a tie (both are exact in float64 for float32 inputs).
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** float32 machine epsilon, 2^-23: PyTorch's floor for a scale (torch.finfo(torch.float32).eps). */
export const FLOAT32_EPS = 2 ** -23;
