// The per-tensor quantize kernel decides most groups of 16 codes with a reciprocal bracket instead of
// a division (assembly/lib/bracket.ts). These cases aim at what that proof rests on: values next to
// half-integers, where a reciprocal multiply rounds to another code; runs where the bracket backs
// off; scales whose reciprocal leaves float32's normal range; and lanes far outside [qmin, qmax].
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseQParams } from '../choose-qparams.js';
import type { QuantDtypeName } from '../dtypes.js';
import { allocCodes, QUANT_DTYPE_NAMES, QUANT_DTYPES, quantRange } from '../dtypes.js';
import { blockLayout, PER_TENSOR } from '../layout.js';
import { roundHalfEven } from '../round.js';
import { referenceKernels } from './reference.js';
import { wasmKernels } from './wasm.js';

const f32 = Math.fround;
const view = new Float32Array(1);
const viewBits = new Uint32Array(view.buffer);

/** The float32 next to v towards +Infinity (up) or -Infinity. */
function nextFloat32(v: number, up: boolean): number {
  if (v === 0) return up ? 1.4e-45 : -1.4e-45;
  view[0] = v;
  viewBits[0] += v > 0 === up ? 1 : -1;
  return view[0];
}

/** WASM and reference codes of one per-tensor call, and the index of their first difference (-1: none). */
function compare(x: Float32Array, dtype: QuantDtypeName, narrow: boolean, scale: number, zeroPoint: number) {
  const d = QUANT_DTYPES[dtype];
  const { qmin, qmax } = quantRange(d, narrow && d.signed);
  const layout = blockLayout([x.length], PER_TENSOR);
  const s = new Float32Array([scale]);
  const z = new Int32Array([Math.min(qmax, Math.max(qmin, zeroPoint))]);
  const want = allocCodes(d, x.length);
  const got = allocCodes(d, x.length).fill(7);
  referenceKernels.quantize(x, layout, s, z, qmin, qmax, want);
  wasmKernels.quantize(x, layout, s, z, qmin, qmax, got);
  let diff = -1;
  for (let i = 0; i < x.length && diff < 0; i++) if (got[i] !== want[i]) diff = i;
  return { diff, got: got[diff], want: want[diff] };
}

/** n values around the scale's codes: ordinary ones, exact ties and their float32 neighbours. */
function nearTies(n: number, scale: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Float32Array.from({ length: n }, () => {
    const k = Math.floor(random() * 600) - 300;
    const tie = f32((k + 0.5) * scale);
    const pick = random();
    if (pick < 0.25) return tie;
    if (pick < 0.5) return nextFloat32(tie, pick < 0.375);
    return f32((random() * 600 - 300) * scale);
  });
}

describe('the bracketed per-tensor quantize kernel', () => {
  it('equals the reference on long runs full of ties and their neighbours, for every code type', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...QUANT_DTYPE_NAMES),
        fc.boolean(),
        fc.float({ min: f32(1e-6), max: f32(1e6), noNaN: true }),
        fc.integer({ min: -40, max: 300 }),
        fc.integer({ min: 256, max: 9000 }),
        fc.nat(),
        (dtype, narrow, scale, zeroPoint, n, seed) => {
          expect(compare(nearTies(n, scale, seed), dtype, narrow, scale, zeroPoint).diff).toBe(-1);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('divides where a reciprocal multiply would land on another code', () => {
    // Values for which fl(x · fl(1/s)) and fl(x / s) round to different integers: what a kernel
    // that trusted one reciprocal product (no bracket, no fallback) would get wrong.
    let found = 0;
    for (const scale of [0.1, 0.3, 0.7, 1 / 3, 0.013, 2.2e-5, 37.9].map(f32)) {
      const reciprocal = f32(1 / scale);
      const x: number[] = [];
      for (let k = -127; k < 127; k++) {
        for (const up of [true, false]) {
          let v = f32((k + 0.5) * scale);
          for (let step = 0; step < 64; step++, v = nextFloat32(v, up)) {
            if (roundHalfEven(f32(v * reciprocal)) !== roundHalfEven(f32(v / scale))) x.push(v);
          }
        }
      }
      found += x.length;
      // Spread among ordinary values, so each sits in a group the bracket must refuse.
      const mixed = Float32Array.from({ length: Math.max(x.length, 16) * 16 }, (_, i) => (i % 16 === 5 && x.length ? x[(i >> 4) % x.length] : f32(((i % 200) - 100) * scale * 1.37)));
      for (const dtype of ['int8', 'uint8', 'int16'] as const) expect(compare(mixed, dtype, false, scale, dtype === 'uint8' ? 128 : 0).diff).toBe(-1);
    }
    expect(found).toBeGreaterThan(100);
  });

  it('stays exact where nearly every group must divide (integers at half the scale), and after it', () => {
    // x / s = i / 2: every odd i is a tie, so the bracket refuses almost every group and the kernel
    // backs off to dividing whole segments; ordinary values follow, where it bracketing again.
    const n = 48 * 1024;
    const x = Float32Array.from({ length: n }, (_, i) => (i < n / 2 ? (i % 509) - 254 : f32(Math.sin(i) * 250)));
    for (const dtype of ['int8', 'uint8', 'int16', 'uint16'] as const) {
      expect(compare(x, dtype, true, 2, dtype.startsWith('u') ? 100 : 0).diff).toBe(-1);
    }
  });

  it('divides when the reciprocal of the scale leaves float32 normal range', () => {
    for (const scale of [1.4e-45, f32(1e-39), f32(2.9e-39), f32(1.1754942e-38), f32(8.6e37), f32(1e38), f32(3.4e38)]) {
      // Codes near zero: k · s and (k + 1/2) · s (exact below 2^-126, where a reciprocal overflows),
      // their neighbours, and plain values of every size.
      const x = Float32Array.from({ length: 2048 }, (_, i) => {
        const k = (i % 400) - 200;
        const v = f32((i % 4 < 2 ? k : k + 0.5) * scale);
        return i % 4 === 1 ? nextFloat32(v, i % 8 === 1) : i % 4 === 3 ? f32((i - 1024) * 1e-41 * 10 ** (i % 90)) : v;
      });
      for (const dtype of ['int8', 'uint8', 'int16'] as const) expect(compare(x, dtype, false, scale, 3).diff).toBe(-1);
    }
  });

  it('saturates and clamps lanes far outside [qmin, qmax] as the division does, and NaN lanes give 0', () => {
    const specials = [Infinity, -Infinity, NaN, -1e30, 1e30, -3.4028235e38, 3.4028235e38, -12582912, 12582912, -8388608.5, 1e7, -1e7, -0, 0];
    const x = Float32Array.from({ length: 2048 }, (_, i) => (i % 7 === 3 ? specials[(i >> 3) % specials.length] : f32((i % 300) * 0.9 - 135)));
    for (const dtype of QUANT_DTYPE_NAMES) {
      for (const narrow of [false, true]) {
        for (const zeroPoint of [0, 3, -2, 100]) expect(compare(x, dtype, narrow, f32(0.75), zeroPoint).diff).toBe(-1);
      }
    }
  });

  it('equals the reference with the parameters a min/max observer picks, symmetric or not', () => {
    fc.assert(
      fc.property(fc.constantFrom(...QUANT_DTYPE_NAMES), fc.boolean(), fc.boolean(), fc.float({ min: f32(1e-30), max: f32(1e30), noNaN: true }), fc.nat(), (dtype, symmetric, narrow, magnitude, seed) => {
        const x = nearTies(4096 + (seed % 500), 1, seed).map((v) => f32(v * magnitude));
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of x) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        const d = QUANT_DTYPES[dtype];
        const { scale, zeroPoint } = chooseQParams(new Float32Array([lo]), new Float32Array([hi]), { dtype: d, symmetric, narrow: narrow && d.signed });
        expect(compare(x, dtype, narrow, scale[0], zeroPoint[0]).diff).toBe(-1);
      }),
      { numRuns: 100 },
    );
  });
});
