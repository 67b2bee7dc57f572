import type { QuantDtypeName } from './dtypes.js';
import type { Granularity } from './layout.js';

/**
 * Everything needed to map floats to codes and back: x ≈ scale · (q − zeroPoint), q in [qmin, qmax].
 * scale and zeroPoint are flat in C order over `paramShape` (see BlockLayout). Treated as an
 * immutable snapshot: functions never modify the arrays of a QParams they are given.
 */
export interface QParams {
  readonly dtype: QuantDtypeName;
  readonly symmetric: boolean;
  readonly narrow: boolean;
  readonly qmin: number;
  readonly qmax: number;
  readonly granularity: Granularity;
  readonly paramShape: readonly number[];
  readonly scale: Float32Array;
  readonly zeroPoint: Int32Array;
}
