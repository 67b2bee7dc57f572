import type { QuantDtypeName } from '../core/dtypes.js';
import type { Granularity } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';

/** QParams as plain JSON data (what getParameters and getLayerParams show). */
export interface QParamsJson {
  readonly dtype: QuantDtypeName;
  readonly symmetric: boolean;
  readonly narrow: boolean;
  readonly qmin: number;
  readonly qmax: number;
  readonly granularity: Granularity;
  readonly paramShape: number[];
  readonly scale: number[];
  readonly zeroPoint: number[];
}

export function paramsToJson(p: QParams): QParamsJson {
  return {
    dtype: p.dtype,
    symmetric: p.symmetric,
    narrow: p.narrow,
    qmin: p.qmin,
    qmax: p.qmax,
    granularity: { ...p.granularity },
    paramShape: [...p.paramShape],
    scale: Array.from(p.scale),
    zeroPoint: Array.from(p.zeroPoint),
  };
}
