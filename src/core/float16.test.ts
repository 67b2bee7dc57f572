import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  bfloat16BitsToFloat32Bits,
  float32BitsToBfloat16Bits,
  float32ToBfloat16Bits,
  fromBfloat16Bits,
  toBfloat16Bits,
} from './bfloat16.js';
import { QuantError } from './errors.js';
import {
  float16BitsToFloat32,
  float16BitsToFloat32Bits,
  float32BitsToFloat16Bits,
  float32ToFloat16Bits,
  fromFloat16Bits,
  toFloat16Bits,
} from './float16.js';

// Golden vectors from scripts/gen-float16-golden.py (numpy astype for float16, numpy bit arithmetic
// checked against an exact search for bfloat16); see that script for the layout.
const DIR = new URL('../../test/fixtures/float16/', import.meta.url);
const meta = JSON.parse(readFileSync(new URL('golden.json', DIR), 'utf8')) as {
  sections: string[];
  f16Deltas: number[];
  bf16Deltas: number[];
  randomCount: number;
  seed: number;
  edges: { input: string; f16: string; bf16: string; why: string }[];
  scalars: { value: string; f16: string; bf16: string }[];
};
const blob = gunzipSync(readFileSync(new URL('golden.bin.gz', DIR)));
const sections: Record<string, Uint16Array | Uint32Array> = {};
{
  let offset = 0;
  for (const s of meta.sections) {
    const [name, type, count] = s.split(':');
    const n = Number(count);
    const bytes = blob.buffer.slice(blob.byteOffset + offset, blob.byteOffset + offset + n * (type === 'u32' ? 4 : 2));
    sections[name] = type === 'u32' ? new Uint32Array(bytes) : new Uint16Array(bytes);
    offset += bytes.byteLength;
  }
  if (offset !== blob.length) throw new Error(`golden.bin.gz has ${blob.length} bytes, sections ${offset}`);
}

function xorshift32(seed: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x >>> 0;
  }
  return out;
}

/** First index where two arrays differ, with both values in hex, or undefined. */
function firstDiff(got: ArrayLike<number>, want: ArrayLike<number>, input: (i: number) => number): string | undefined {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) return `index ${i}: input ${input(i).toString(16)} gave ${got[i].toString(16)}, expected ${want[i].toString(16)}`;
  }
  return undefined;
}

const f32FromBits = (bits: Uint32Array): Float32Array => new Float32Array(bits.buffer, bits.byteOffset, bits.length);
const bitsOfF32 = (x: Float32Array): Uint32Array => new Uint32Array(x.buffer, x.byteOffset, x.length);
const ALL16 = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** Float32 inputs (table[h] + d) mod 2^32 for every h and delta, in the order the script wrote. */
function sweepInputs(table: Uint32Array, deltas: number[]): Uint32Array {
  const out = new Uint32Array(65536 * deltas.length);
  for (let h = 0, k = 0; h < 65536; h++) for (const d of deltas) out[k++] = (table[h] + d) >>> 0;
  return out;
}

const formats = [
  {
    name: 'float16',
    toBits: float32ToFloat16Bits,
    fromBits: float16BitsToFloat32,
    scalarTo: toFloat16Bits,
    scalarFrom: fromFloat16Bits,
    bitsTo: float32BitsToFloat16Bits,
    bitsFrom: float16BitsToFloat32Bits,
    widen: 'f16_to_f32',
    sweep: 'f32_to_f16_sweep',
    rand: 'f32_to_f16_rand',
    deltas: meta.f16Deltas,
    key: 'f16' as const,
  },
  {
    name: 'bfloat16',
    toBits: float32ToBfloat16Bits,
    fromBits: bfloat16BitsToFloat32,
    scalarTo: toBfloat16Bits,
    scalarFrom: fromBfloat16Bits,
    bitsTo: float32BitsToBfloat16Bits,
    bitsFrom: bfloat16BitsToFloat32Bits,
    widen: 'bf16_to_f32',
    sweep: 'f32_to_bf16_sweep',
    rand: 'f32_to_bf16_rand',
    deltas: meta.bf16Deltas,
    key: 'bf16' as const,
  },
];

for (const f of formats) {
  describe(`${f.name} golden vectors`, () => {
    const widened = sections[f.widen] as Uint32Array;

    it('widens every bit pattern to float32 exactly (array and scalar forms)', () => {
      const got = bitsOfF32(f.fromBits(ALL16));
      expect(firstDiff(got, widened, (i) => i)).toBeUndefined();
      const scalarBits = ALL16.map((h, i) => (f.bitsFrom(h) === widened[i] ? 0 : 1));
      expect(scalarBits.indexOf(1)).toBe(-1);
      for (let h = 0; h < 65536; h += 1) {
        const v = f.scalarFrom(h);
        const want = f32FromBits(widened.subarray(h, h + 1))[0];
        if (!(Object.is(v, want) || (v !== v && want !== want))) throw new Error(`${f.name} ${h.toString(16)}: ${v} vs ${want}`);
      }
    });

    it('rounds every bit pattern and its ties and neighbours back, to nearest even', () => {
      const inputs = sweepInputs(widened, f.deltas);
      const got = f.toBits(f32FromBits(inputs));
      const diffs = sections[f.sweep] as Uint16Array;
      const want = new Uint16Array(got.length);
      for (let i = 0; i < got.length; i++) want[i] = (diffs[i] + Math.floor(i / f.deltas.length)) & 0xffff;
      expect(firstDiff(got, want, (i) => inputs[i])).toBeUndefined();
    });

    it('rounds random float32 bit patterns as the reference does', () => {
      const inputs = xorshift32(meta.seed, meta.randomCount);
      const got = f.toBits(f32FromBits(inputs));
      expect(firstDiff(got, sections[f.rand], (i) => inputs[i])).toBeUndefined();
      const scalar = inputs.map((x) => f.bitsTo(x));
      expect(firstDiff(scalar, sections[f.rand], (i) => inputs[i])).toBeUndefined();
    });

    it('handles the listed edge cases (overflow ties, subnormal boundaries, NaN payloads)', () => {
      const inputs = Uint32Array.from(meta.edges, (e) => parseInt(e.input, 16));
      const got = f.toBits(f32FromBits(inputs));
      meta.edges.forEach((e, i) => {
        expect(got[i].toString(16).padStart(4, '0'), `${e.why} (${e.input})`).toBe(e[f.key]);
        // float32 values are exact in float64, so the scalar form must agree.
        const v = f32FromBits(inputs.subarray(i, i + 1))[0];
        if (v === v) expect(f.scalarTo(v).toString(16).padStart(4, '0'), e.why).toBe(e[f.key]);
      });
    });

    it('rounds float64 scalars once, not through float32', () => {
      for (const s of meta.scalars) {
        const v = parseHexFloat(s.value);
        expect(f.scalarTo(v).toString(16).padStart(4, '0'), s.value).toBe(s[f.key]);
      }
    });
  });
}

/** Python's float.hex() format: [-]0x1.8p+3, inf, -inf. */
function parseHexFloat(s: string): number {
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  const m = /^(-?)0x([01])\.([0-9a-f]+)p([+-]\d+)$/.exec(s);
  if (!m) throw new Error(`bad hex float ${s}`);
  const mant = parseInt(m[2] + m[3], 16) / 16 ** m[3].length;
  return (m[1] ? -1 : 1) * mant * 2 ** Number(m[4]);
}

describe('float16 and bfloat16 behaviour', () => {
  it('keeps NaN sign, makes it quiet, never turns it into Infinity', () => {
    const nans = f32FromBits(Uint32Array.from([0x7f800001, 0xff800001, 0x7fffffff, 0xffc00000, 0x7f80ffff]));
    expect(Array.from(float32ToFloat16Bits(nans), (h) => h.toString(16))).toEqual(['7e00', 'fe00', '7fff', 'fe00', '7e07']);
    expect(Array.from(float32ToBfloat16Bits(nans), (h) => h.toString(16))).toEqual(['7fc0', 'ffc0', '7fff', 'ffc0', '7fc0']);
    expect(toFloat16Bits(-NaN) & 0x7e00).toBe(0x7e00);
    expect(fromBfloat16Bits(0x7f81)).toBeNaN();
    expect(float16BitsToFloat32Bits(0x7c01).toString(16)).toBe('7fc02000');
    expect(bfloat16BitsToFloat32Bits(0xff81).toString(16)).toBe('ffc10000');
  });

  it('keeps -0 and rounds to it', () => {
    expect(toFloat16Bits(-0)).toBe(0x8000);
    expect(toFloat16Bits(-(2 ** -26))).toBe(0x8000);
    expect(toBfloat16Bits(-0)).toBe(0x8000);
    expect(Object.is(fromFloat16Bits(0x8000), -0)).toBe(true);
  });

  it('overflows float16 at the 65520 tie and bfloat16 at its own', () => {
    expect(toFloat16Bits(65519)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00);
    expect(toFloat16Bits(-1e9)).toBe(0xfc00);
    expect(toBfloat16Bits(3.4e38)).toBe(0x7f80);
    expect(fromFloat16Bits(0x7bff)).toBe(65504);
  });

  it('round-trips every finite float16 value through float32', () => {
    const h = ALL16.filter((x) => (x & 0x7c00) !== 0x7c00 || (x & 0x3ff) === 0);
    expect(float32ToFloat16Bits(float16BitsToFloat32(h))).toEqual(h);
  });

  it('writes into given buffers (including views at an offset) and checks their length', () => {
    const backing = new Float32Array(8);
    const out = backing.subarray(2, 5);
    expect(float16BitsToFloat32(Uint16Array.from([0x3c00, 0x4000, 0xc200]), out)).toBe(out);
    expect(Array.from(backing)).toEqual([0, 0, 1, 2, -3, 0, 0, 0]);
    const src = new Float32Array([9, 1.5, 2.5, 9]).subarray(1, 3);
    const bits = new Uint16Array(2);
    expect(float32ToBfloat16Bits(src, bits)).toBe(bits);
    expect(Array.from(bits, (b) => b.toString(16))).toEqual(['3fc0', '4020']);
    for (const fn of [() => float32ToFloat16Bits(new Float32Array(2), new Uint16Array(3)), () => bfloat16BitsToFloat32(new Uint16Array(2), new Float32Array(1))]) {
      expect(fn).toThrow(QuantError);
      expect(fn).toThrow(/output buffer has \d elements, the input has 2/);
    }
  });
});
