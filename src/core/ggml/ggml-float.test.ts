import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bf16ToFp32, fp16ToFp32, fp32BitsToFp16, fp32ToBf16, fp32ToFp16, nearestInt } from './ggml-float.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const i32 = new Int32Array(f32.buffer);
const fromBits = (b: number) => ((u32[0] = b), f32[0]);
const toBits = (v: number) => ((f32[0] = v), u32[0]);

// ggml_compute_fp32_to_fp16 as ggml-impl.h writes it (the float scaling trick), the reference the
// integer conversion must equal.
function ggmlFp32ToFp16(w: number): number {
  const v = fromBits(w);
  let base = Math.fround(Math.fround(Math.abs(v) * 2 ** 112) * 2 ** -110);
  const shl1w = (w << 1) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1w & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = Math.fround(fromBits((bias >>> 1) + 0x07800000) + base);
  const bits = toBits(base);
  return ((sign >>> 16) | (shl1w > 0xff000000 ? 0x7e00 : ((bits >>> 13) & 0x7c00) + (bits & 0x0fff))) & 0xffff;
}

// nearest_int as ggml-quants.c writes it: add 1.5·2^23 in float32 and read the mantissa bits.
function ggmlNearestInt(v: number): number {
  f32[0] = v + 12582912;
  return (i32[0] & 0x007fffff) - 0x00400000;
}

describe('ggml float16 conversion', () => {
  it("equals ggml's float trick on random float32 bit patterns", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (w) => {
        expect(fp32BitsToFp16(w)).toBe(ggmlFp32ToFp16(w));
      }),
      { numRuns: 20000 },
    );
  });

  it("equals ggml's float trick at, between and beside every pair of float16 neighbours", () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x7c00; h++) {
      const lo = toBits(fp16ToFp32(h));
      const hi = toBits(fp16ToFp32(h + 1));
      const mid = toBits((fp16ToFp32(h) + fp16ToFp32(h + 1)) / 2);
      for (const w of [lo, mid - 1, mid, mid + 1, hi - 1]) {
        for (const s of [0, 0x80000000]) {
          const b = (w | s) >>> 0;
          if (fp32BitsToFp16(b) !== ggmlFp32ToFp16(b)) wrong.push(b);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('rounds halfway cases to even, overflows at 65520 and keeps the sign of NaN', () => {
    expect(fp32ToFp16(65504)).toBe(0x7bff);
    expect(fp32ToFp16(65519.99)).toBe(0x7bff);
    expect(fp32ToFp16(65520)).toBe(0x7c00);
    expect(fp32ToFp16(-Infinity)).toBe(0xfc00);
    expect(fp32ToFp16(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10: the even one
    expect(fp32ToFp16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(fp32ToFp16(2 ** -25)).toBe(0); // half the smallest subnormal: ties to 0
    expect(fp32ToFp16(Math.fround(2 ** -25 * 1.0000001))).toBe(1);
    expect(fp32BitsToFp16(0xffc00001)).toBe(0xfe00);
    expect(fp32ToFp16(-0)).toBe(0x8000);
  });

  it('widens every float16 pattern exactly', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const e = (h >> 10) & 31;
      const m = h & 1023;
      const sign = h & 0x8000 ? -1 : 1;
      const want = e === 31 ? (m ? NaN : sign * Infinity) : sign * (e ? 1024 + m : m) * 2 ** ((e || 1) - 25);
      if (!Object.is(fp16ToFp32(h), want)) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
});

describe('ggml bfloat16 conversion', () => {
  it('rounds to nearest even on the dropped half and quiets NaN', () => {
    expect(fp32ToBf16(1)).toBe(0x3f80);
    expect(fp32ToBf16(fromBits(0x3f808000))).toBe(0x3f80);
    expect(fp32ToBf16(fromBits(0x3f818000))).toBe(0x3f82);
    expect(fp32ToBf16(fromBits(0x3f808001))).toBe(0x3f81);
    expect(fp32ToBf16(fromBits(0x7f800001))).toBe(0x7fc0);
    expect(bf16ToFp32(0xbf80)).toBe(-1);
  });
});

describe('nearest_int', () => {
  it("equals ggml's bit trick on float32 values inside and outside its ±4194303 range", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (v) => {
        expect(nearestInt(v)).toBe(ggmlNearestInt(v));
      }),
      { numRuns: 20000 },
    );
    for (const v of [0.5, 1.5, 2.5, -0.5, -1.5, 4194302.5, 4194303, -4194303, 4194304, 1e30, -1e30, Infinity]) {
      expect(nearestInt(v)).toBe(ggmlNearestInt(v));
    }
  });

  it('rounds half to even within its range', () => {
    expect([0.5, 1.5, 2.5, -0.5, -2.5, 3.49999988079071].map(nearestInt)).toEqual([0, 2, 2, 0, -2, 3]);
  });
});
