import { QuantError } from './errors.js';

/** Index of the first NaN (or, with alsoInf, the first ±Infinity) in x, or -1. Only used on the error path. */
export function firstNonFinite(x: ArrayLike<number>, alsoInf: boolean): number {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v !== v || (alsoInf && (v === Infinity || v === -Infinity))) return i;
  }
  return -1;
}

/**
 * Throws NAN_INPUT / INF_INPUT naming the first offending flat index (C order), given the min and
 * max a NaN-propagating reduction found. `offset` is added to indices (for chunked input).
 */
export function checkFiniteRange(
  x: ArrayLike<number>,
  min: ArrayLike<number>,
  max: ArrayLike<number>,
  allowInf: boolean,
  offset = 0,
): void {
  let hasNaN = false;
  let hasInf = false;
  for (let p = 0; p < min.length; p++) {
    if (min[p] !== min[p] || max[p] !== max[p]) hasNaN = true;
    else if (min[p] === -Infinity || max[p] === Infinity) hasInf = true;
  }
  if (hasNaN) {
    const i = firstNonFinite(x, false);
    throw new QuantError('NAN_INPUT', `input contains NaN at index ${i + offset}`, { details: { index: i + offset } });
  }
  if (hasInf && !allowInf) {
    const i = firstNonFinite(x, true);
    throw new QuantError('INF_INPUT', `input contains ${x[i]} at index ${i + offset} (allow infinities to saturate them)`, {
      details: { index: i + offset },
    });
  }
}

/**
 * Throws NAN_INPUT or INF_INPUT at the first element of `x` that is not finite, as
 * "`what` element i is v: expected finite values" (details.index = i).
 */
export function assertFinite(x: ArrayLike<number>, what: string): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    // v − v is NaN for NaN and ±Infinity, 0 for every finite v.
    if (v - v !== 0) throw new QuantError(v !== v ? 'NAN_INPUT' : 'INF_INPUT', `${what} element ${i} is ${v}: expected finite values`, { details: { index: i } });
  }
}
