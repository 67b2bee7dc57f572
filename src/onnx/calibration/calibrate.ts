import { clone } from '@bufbuild/protobuf';
import type { ModelProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { isQuantError, QuantError } from '../../core/errors.js';
import type { Observer } from '../../core/observers/observer.js';
import type { ObserverName } from '../../core/observers/builtin-observers.js';
import { createObserver, DATA_OBSERVER_NAMES } from '../../core/observers/builtin-observers.js';
import { makeValueInfo } from '../../formats/onnx/builders.js';
import { encodeModel } from '../../formats/onnx/model.js';
import type { ProgressEvent, RunModel, TensorMap } from '../run-model.js';

/** The observer kinds static calibration offers: every registered observer that needs no options. */
export const CALIBRATION_OBSERVER_NAMES: readonly ObserverName[] = DATA_OBSERVER_NAMES;
export type CalibrationObserverName = ObserverName;

/**
 * Phase 1 of calibration: the model with each of `tensors` also exposed as a graph output (typed
 * float32, shape left to the runtime), encoded for the runner. Tensors already outputs are kept
 * once. The caller's model is not modified.
 */
export function augmentForCalibration(model: ModelProto, tensors: readonly string[]): Uint8Array {
  const m = clone(ModelProtoSchema, model);
  const g = m.graph!;
  const outputs = new Set(g.output.map((o) => o.name));
  for (const t of tensors) if (!outputs.has(t)) g.output.push(makeValueInfo(t, 'float32'));
  return encodeModel(m);
}

export interface CalibrationResult {
  /** One observer per tensor, holding everything seen (merged batch by batch). */
  readonly observers: ReadonlyMap<string, Observer>;
  readonly batches: number;
  /** Milliseconds inside runModel that were not our observers' work: onnxruntime's session and runs. */
  readonly runtimeMs: number;
  /** Milliseconds in our own work: augmenting and encoding the model, updating and merging observers. */
  readonly observeMs: number;
}

export interface CalibrateOptions {
  readonly runModel: RunModel;
  readonly batches: AsyncIterable<TensorMap> | Iterable<TensorMap>;
  readonly observer: CalibrationObserverName;
  /** Batches expected, for progress events (0 when unknown). */
  readonly total?: number;
  readonly onProgress?: (event: ProgressEvent) => void;
}

/**
 * Phases 2 and 3 of calibration, as ONNX Runtime's calibrators: the augmented model runs on each
 * batch; each batch's values of every tensor go into a fresh observer, which is merged into the
 * running one and dropped, so memory holds one batch of outputs plus the observers' statistics
 * (a histogram or two numbers per tensor) whatever the number of batches. Per-tensor observers
 * (activations get one scale each). A tensor the runtime does not return as float32 is an error
 * naming it; an empty set of batches is EMPTY_INPUT.
 */
export async function calibrate(model: ModelProto, tensors: readonly string[], options: CalibrateOptions): Promise<CalibrationResult> {
  const kind = options.observer;
  const t0 = performance.now();
  const bytes = augmentForCalibration(model, tensors);
  const augmentMs = performance.now() - t0;
  let callbackMs = 0;
  const observers = new Map<string, Observer>();
  let batches = 0;
  const total = options.total ?? 0;
  const started = performance.now();
  await options.runModel(
    bytes,
    options.batches,
    (outputs, batch) => {
      const s = performance.now();
      for (const name of tensors) {
        const t = outputs[name];
        if (!t) throw new QuantError('INVALID_ARGUMENT', `the runtime returned no value for tensor '${name}' in batch ${batch}`);
        if (t.dtype !== 'float32') throw new QuantError('UNSUPPORTED', `tensor '${name}' is ${t.dtype}: calibration observes float32 activations`);
        if (t.values.length === 0) continue;
        const o = createObserver(kind);
        try {
          o.update(t.values as Float32Array, t.dims);
        } catch (e) {
          // The observer's "input contains NaN at index 3" does not say which activation of which batch.
          if (isQuantError(e)) throw new QuantError(e.code, `tensor '${name}' in calibration batch ${batch}: ${e.message}`, { cause: e, details: e.details });
          throw e;
        }
        const acc = observers.get(name);
        if (acc) acc.merge(o);
        else observers.set(name, o);
      }
      batches++;
      callbackMs += performance.now() - s;
      options.onProgress?.({ phase: 'calibrate', done: batches, total: Math.max(total, batches) });
    },
    tensors,
  );
  const runMs = performance.now() - started;
  if (batches === 0) throw new QuantError('EMPTY_INPUT', 'calibration got no batches: expected at least one set of model inputs');
  return { observers, batches, runtimeMs: Math.max(0, runMs - callbackMs), observeMs: augmentMs + callbackMs };
}
