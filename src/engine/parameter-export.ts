import { QuantError } from '../core/errors.js';
import type { ObserverName } from '../core/observers/observer-catalog.js';
import { OBSERVER_NAMES } from '../core/observers/observer-catalog.js';
import { blockLayout } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import type { ParamsFileV1 } from '../formats/params-file.js';
import { decodeParamsFile, encodeParamsFile } from '../formats/params-file.js';
import type { CalibratedEntry } from './quantizer-types.js';

export const QUANTIZER_PARAMETERS_FORMAT = 'quantkit.quantizer-parameters';
export const QUANTIZER_PARAMETERS_VERSION = 1;


export interface CalibratedEntryFile {
  params: ParamsFileV1;
  /** The running range the parameters came from (what requantization widens). */
  range: { min: number[]; max: number[] };
  /** The calibration batch shape (per-channel parameters are laid out for it). */
  shape: number[];
  /** The observer that chose the range, as registered. */
  method: ObserverName;
}

export interface LayerParametersFile {
  calibrated?: CalibratedEntryFile;
  last?: ParamsFileV1;
}

/**
 * A Quantizer's parameters as JSON: for the instance and each named layer, the calibrated entry
 * and the last-used parameters, each QParams in the params-file format. Example:
 *
 *   { "format": "quantkit.quantizer-parameters", "version": 1,
 *     "instance": { "calibrated": { "params": {...params file...}, "range": { "min": [-1], "max": [3] },
 *                                   "shape": [2, 3], "method": "minmax" } },
 *     "layers": { "fc1.weight": { "last": {...params file...} } } }
 */
export interface QuantizerParametersFile {
  format: typeof QUANTIZER_PARAMETERS_FORMAT;
  version: typeof QUANTIZER_PARAMETERS_VERSION;
  instance: LayerParametersFile;
  layers: Record<string, LayerParametersFile>;
}

/** The instance's key in the Quantizer's maps. */
const INSTANCE = '';

/** The parameters as a QuantizerParametersFile; `layers` is a null-prototype object (any layer name is a plain key). */
export function encodeQuantizerParameters(calibrated: ReadonlyMap<string, CalibratedEntry>, last: ReadonlyMap<string, QParams>): QuantizerParametersFile {
  // Layer names are the caller's: with an ordinary object, a layer named "__proto__" would be
  // Object.prototype and its parameters would land on every object of the process.
  const layers: Record<string, LayerParametersFile> = Object.create(null) as Record<string, LayerParametersFile>;
  const file: QuantizerParametersFile = { format: QUANTIZER_PARAMETERS_FORMAT, version: QUANTIZER_PARAMETERS_VERSION, instance: {}, layers };
  const slot = (key: string): LayerParametersFile => {
    if (key === INSTANCE) return file.instance;
    if (!Object.prototype.hasOwnProperty.call(layers, key)) layers[key] = {};
    return layers[key];
  };
  for (const [key, e] of calibrated) {
    slot(key).calibrated = { params: encodeParamsFile(e.params), range: { min: Array.from(e.min), max: Array.from(e.max) }, shape: [...e.shape], method: e.method };
  }
  for (const [key, p] of last) slot(key).last = encodeParamsFile(p);
  return file;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fail(path: string, message: string, cause?: unknown): never {
  throw new QuantError('INVALID_PARAMS', `${path}: ${message}`, cause === undefined ? {} : { cause });
}

function checkKeys(o: Record<string, unknown>, allowed: readonly string[], path: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length) fail(path, `unknown field(s) ${extra.map((k) => `'${k}'`).join(', ')} (known: ${allowed.join(', ')})`);
}

function params(v: unknown, path: string): QParams {
  try {
    return decodeParamsFile(v);
  } catch (e) {
    if (e instanceof QuantError) fail(path, e.message.replace(/^params/, ''), e);
    throw e;
  }
}

function floats(v: unknown, n: number, path: string): Float32Array {
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || Math.fround(x) !== x)) {
    fail(path, `expected ${n} finite float32 numbers, got ${Array.isArray(v) ? `an array of ${v.length}` : typeof v}`);
  }
  return Float32Array.from(v as number[]);
}

function entry(v: unknown, path: string): CalibratedEntry {
  if (!isObject(v)) fail(path, 'expected an object { params, range, shape, method }');
  checkKeys(v, ['params', 'range', 'shape', 'method'], path);
  const p = params(v.params, `${path}.params`);
  if (!isObject(v.range)) fail(`${path}.range`, 'expected an object { min, max }');
  const min = floats(v.range.min, p.scale.length, `${path}.range.min`);
  const max = floats(v.range.max, p.scale.length, `${path}.range.max`);
  for (let i = 0; i < min.length; i++) if (!(min[i] <= max[i])) fail(`${path}.range`, `min[${i}] = ${min[i]} is above max[${i}] = ${max[i]}`);
  if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`${path}.shape`, 'expected an array of non-negative integers');
  const shape = v.shape as number[];
  let fits = false;
  try {
    const want = blockLayout(shape, p.granularity).paramShape;
    fits = want.length === p.paramShape.length && want.every((d, k) => d === p.paramShape[k]);
  } catch {
    fits = false;
  }
  if (!fits) fail(`${path}.shape`, `[${shape.join(', ')}] does not fit parameters of shape [${p.paramShape.join(', ')}]`);
  if (!OBSERVER_NAMES.includes(v.method as ObserverName)) fail(`${path}.method`, `expected one of ${OBSERVER_NAMES.join(', ')}, got ${JSON.stringify(v.method)}`);
  return Object.freeze({ params: p, min, max, shape: Object.freeze([...shape]), method: v.method as CalibratedEntry['method'] });
}

/**
 * Reads an exported parameters object; every problem is INVALID_PARAMS naming where it is
 * ("parameters.layers.fc1.last.scale[0]: ..."), another format version included.
 */
export function decodeQuantizerParameters(json: unknown): { calibrated: Map<string, CalibratedEntry>; last: Map<string, QParams> } {
  if (!isObject(json)) fail('parameters', `expected a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`);
  if (json.format !== QUANTIZER_PARAMETERS_FORMAT) fail('parameters.format', `expected '${QUANTIZER_PARAMETERS_FORMAT}', got ${JSON.stringify(json.format) ?? 'nothing'}`);
  if (json.version !== QUANTIZER_PARAMETERS_VERSION) {
    fail('parameters.version', `unsupported version ${JSON.stringify(json.version) ?? '(missing)'}: this quantkit reads version ${QUANTIZER_PARAMETERS_VERSION}`);
  }
  checkKeys(json, ['format', 'version', 'instance', 'layers'], 'parameters');
  const calibrated = new Map<string, CalibratedEntry>();
  const last = new Map<string, QParams>();
  const read = (key: string, v: unknown, path: string) => {
    if (!isObject(v)) fail(path, 'expected an object { calibrated?, last? }');
    checkKeys(v, ['calibrated', 'last'], path);
    if (v.calibrated !== undefined) calibrated.set(key, entry(v.calibrated, `${path}.calibrated`));
    if (v.last !== undefined) last.set(key, params(v.last, `${path}.last`));
  };
  read(INSTANCE, json.instance ?? {}, 'parameters.instance');
  const layers = json.layers ?? {};
  if (!isObject(layers)) fail('parameters.layers', 'expected an object of layer name -> parameters');
  for (const [name, v] of Object.entries(layers)) {
    if (name === INSTANCE) fail('parameters.layers', 'a layer name must not be empty (the instance has its own field)');
    read(name, v, `parameters.layers.${name}`);
  }
  return { calibrated, last };
}
