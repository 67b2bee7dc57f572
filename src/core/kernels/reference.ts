import type { CodeArray } from '../dtypes.js';
import type { BlockLayout } from '../layout.js';
import { paramIndex } from '../layout.js';
import { roundHalfEven } from '../round.js';
import type { Kernels } from './contract.js';

const f32 = Math.fround;

/** The readable definition of each kernel: element by element, no cleverness. */
export const referenceKernels: Kernels = {
  name: 'reference',

  minMax(x, layout, min, max, start = 0, finiteOnly = false) {
    for (let j = 0; j < x.length; j++) {
      const v = x[j];
      if (finiteOnly && (v === Infinity || v === -Infinity)) continue;
      const p = paramIndex(layout, start + j);
      min[p] = Math.min(min[p], v);
      max[p] = Math.max(max[p], v);
    }
  },

  quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start = 0) {
    for (let j = 0; j < x.length; j++) {
      const p = paramIndex(layout, start + j);
      out[j] = quantizeOne(x[j], scale[p], zeroPoint[p], qmin, qmax);
    }
  },

  dequantize(q, layout, scale, zeroPoint, out, start = 0) {
    for (let j = 0; j < q.length; j++) {
      const p = paramIndex(layout, start + j);
      out[j] = f32((q[j] - zeroPoint[p]) * scale[p]);
    }
  },

  fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start = 0) {
    for (let j = 0; j < x.length; j++) {
      const p = paramIndex(layout, start + j);
      out[j] = f32((quantizeOne(x[j], scale[p], zeroPoint[p], qmin, qmax) - zeroPoint[p]) * scale[p]);
    }
  },

  pack(codes, bits, out) {
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    out.fill(0);
    for (let j = 0; j < codes.length; j++) {
      out[Math.floor(j / perByte)] |= (codes[j] & mask) << ((j % perByte) * bits);
    }
  },

  unpack(packed, bits, signed, out) {
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    const signBit = 1 << (bits - 1);
    for (let j = 0; j < out.length; j++) {
      const v = (packed[Math.floor(j / perByte)] >> ((j % perByte) * bits)) & mask;
      out[j] = signed && v & signBit ? v - (1 << bits) : v;
    }
  },
};

/** One element of ONNX QuantizeLinear; NaN maps to 0 (the comparisons fail and the store truncates). */
export function quantizeOne(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const v = roundHalfEven(f32(x / scale)) + zeroPoint;
  return v < qmin ? qmin : v > qmax ? qmax : v;
}

export type { CodeArray };
