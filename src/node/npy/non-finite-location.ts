import { isQuantError, QuantError } from '../../core/errors.js';

/**
 * A NaN or ±Infinity error of the library (NAN_INPUT / INF_INPUT, which name a flat index in C
 * order) restated for the file it came from, at the element's index in the array's own shape:
 * `x.npy[3, 17] is NaN (flat index 137)`, the index numpy users type to look at it. Any other
 * error is returned as it is.
 */
export function locateNonFinite(path: string, shape: readonly number[], e: unknown): unknown {
  if (!isQuantError(e) || (e.code !== 'NAN_INPUT' && e.code !== 'INF_INPUT')) return e;
  const index = e.details?.index;
  if (typeof index !== 'number' || e.details?.file !== undefined) return e;
  const at = unravelIndex(index, shape);
  const value = e.code === 'NAN_INPUT' ? 'NaN' : (/contains (-?Infinity)/.exec(e.message)?.[1] ?? 'infinite');
  const advice = e.code === 'INF_INPUT' ? ': allow infinities to saturate them' : '';
  return new QuantError(e.code, `${path}[${at.join(', ')}] is ${value} (flat index ${index})${advice}`, {
    cause: e,
    details: { ...e.details, file: path, at },
  });
}

/** numpy.unravel_index for C order: the multi-dimensional index of flat index i. */
export function unravelIndex(i: number, shape: readonly number[]): number[] {
  const at = new Array<number>(shape.length).fill(0);
  let rest = i;
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k]!;
    if (d === 0) return at;
    at[k] = rest % d;
    rest = Math.floor(rest / d);
  }
  return at;
}
