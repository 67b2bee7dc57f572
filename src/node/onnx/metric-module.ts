import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { QuantError } from '../../core/errors.js';
import { decodeNpy } from '../../formats/npy.js';
import type { CustomMetricFunction, MetricInput } from '../../onnx/metrics/metric-options.js';
import { describeFsError } from '../fs/fs-error.js';

/**
 * Loads a metric of one's own from an ES module (.mjs or .js) at `path` (relative to the working
 * directory): its default export, or else its export named `metric`, must be a function
 * `(reference, candidate, batch) => number` (CustomMetricFunction). The module's code runs in
 * this process: load only modules you trust. Errors are one line naming the file: missing,
 * failing to import (a syntax error, a throw at the top level), or exporting no function.
 */
export async function loadMetricModule(path: string): Promise<Extract<MetricInput, { kind: 'custom' }>> {
  const absolute = resolve(path);
  let isFile: boolean;
  try {
    isFile = statSync(absolute).isFile();
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read metric module '${path}': ${describeFsError(e)}`, { cause: e });
  }
  if (!isFile) throw new QuantError('IO_ERROR', `cannot read metric module '${path}': not a file`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new QuantError('INVALID_ARGUMENT', `cannot load metric module '${path}': ${why.split('\n')[0]}`, { cause: e });
  }
  const evaluate = typeof mod.default === 'function' ? mod.default : mod.metric;
  if (typeof evaluate !== 'function') {
    throw new QuantError('INVALID_ARGUMENT', `metric module '${path}' exports no metric: expected a default export (or one named 'metric') of (reference, candidate, batch) => number, got ${typeof evaluate === 'undefined' ? 'none' : typeof evaluate}`);
  }
  return { kind: 'custom', name: path, evaluate: evaluate as CustomMetricFunction };
}

/**
 * Reads class labels from a .npy of integers (any integer dtype, any shape, C order): one label
 * per row of the scored output, every batch in order. Errors name the file: unreadable,
 * malformed, not integers, or a label below 0 or above 2^31 − 1.
 */
export function readLabels(path: string): Int32Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read labels '${path}': ${describeFsError(e)}`, { cause: e });
  }
  let arr;
  try {
    arr = decodeNpy(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new QuantError('MALFORMED_FILE', `labels '${path}': ${why}`, { cause: e });
  }
  if (!/^u?int(8|16|32|64)$/.test(arr.dtype)) throw new QuantError('INVALID_ARGUMENT', `labels '${path}' hold ${arr.dtype}: expected integer class indices (int64, int32, ...)`);
  const out = new Int32Array(arr.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Number(arr.data[i] as number | bigint);
    if (!(v >= 0 && v <= 0x7fffffff)) throw new QuantError('INVALID_ARGUMENT', `labels '${path}': entry ${i} is ${v}: expected a class index >= 0`);
    out[i] = v;
  }
  if (out.length === 0) throw new QuantError('EMPTY_INPUT', `labels '${path}' hold no entries`);
  return out;
}
