import type { ParameterState } from '../../engine/parameter-views.js';
import type { QuantizerParametersFile } from '../../engine/parameter-export.js';
import { encodeQuantizerParameters } from '../../engine/parameter-export.js';
import type { CalibratedEntry } from '../../engine/quantizer.js';
import type { QParams } from '../../core/qparams.js';

/**
 * What changed from `before` to `now` (two Quantizer.parameterState() of one quantizer) as a
 * partial export that Quantizer.mergeParameters takes on: the entries of `now` that are not the
 * very entries of `before` (entries are immutable, replaced whole, so identity is change). Null
 * when nothing changed; 'removed' when an entry of `before` is gone, which a merge cannot express
 * (a config change or an import: the whole state has to go).
 */
export function parameterChanges(before: ParameterState, now: ParameterState): QuantizerParametersFile | null | 'removed' {
  for (const k of before.calibrated.keys()) if (!now.calibrated.has(k)) return 'removed';
  for (const k of before.last.keys()) if (!now.last.has(k)) return 'removed';
  const calibrated = new Map<string, CalibratedEntry>();
  const last = new Map<string, QParams>();
  for (const [k, e] of now.calibrated) if (before.calibrated.get(k) !== e) calibrated.set(k, e);
  for (const [k, p] of now.last) if (before.last.get(k) !== p) last.set(k, p);
  return calibrated.size === 0 && last.size === 0 ? null : encodeQuantizerParameters(calibrated, last);
}

/** The state `before` with a partial export's entries taken on, as a whole export (what a store keeps). */
export function parametersWith(before: ParameterState, changes: { calibrated: ReadonlyMap<string, CalibratedEntry>; last: ReadonlyMap<string, QParams> }): QuantizerParametersFile {
  const calibrated = new Map(before.calibrated);
  const last = new Map(before.last);
  for (const [k, e] of changes.calibrated) calibrated.set(k, e);
  for (const [k, p] of changes.last) last.set(k, p);
  return encodeQuantizerParameters(calibrated, last);
}
