#!/usr/bin/env python3
"""Golden vectors for quantkit's float16 and bfloat16 conversions (src/core/float16.ts, bfloat16.ts).

float16 comes from numpy's astype(np.float16) / astype(np.float32) (round to nearest even). numpy
keeps a signalling NaN signalling; quantkit quiets it (IEEE 754 6.2, as x86 F16C and ARM FCVT do), so
NaN inputs are quieted before numpy converts them (widened NaNs get the quiet bit too). bfloat16 has
no numpy dtype: its reference is numpy bit arithmetic on uint32 (round to nearest even on the dropped 16 bits, NaN first),
cross-checked here against an exact nearest-value search with fractions.

Writes test/fixtures/float16/
  golden.bin.gz  little-endian sections, in this order:
    f16_to_f32       uint32[65536]          float32 bits of every float16 pattern h
    f32_to_f16_sweep uint16[65536 * len(F16_DELTAS)]  for h, then d: (out - h) & 0xffff where
                     out = f16(f32 input), input = (f16_to_f32[h] + d) mod 2^32
    f32_to_f16_rand  uint16[RANDOM_COUNT]   f16 of the float32 bits xorshift32 yields
    bf16_to_f32      uint32[65536]
    f32_to_bf16_sweep uint16[65536 * len(BF16_DELTAS)]  as above, input = (bf16_to_f32[b] + d) mod 2^32
    f32_to_bf16_rand uint16[RANDOM_COUNT]
  golden.json    layout, deltas, xorshift seed, explicit float32 edge cases and float64 scalar cases

xorshift32: x ^= x << 13; x ^= x >> 17; x ^= x << 5 (mod 2^32), starting from the seed; each step's
x is one input. Run: python3 scripts/gen-float16-golden.py
"""
import gzip
import json
import math
import os
import struct
from fractions import Fraction

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'float16')
# Around each float16 value (2^13 float32 ulps apart when normal): exact, +-1 ulp, the ties with the
# neighbours (+-0x1000) and just either side of them.
F16_DELTAS = [0, 1, -1, 0x0fff, 0x1000, 0x1001, -0x0fff, -0x1000, -0x1001, 0x1fff]
BF16_DELTAS = [0, 1, -1, 0x7fff, 0x8000, 0x8001, -0x7fff, -0x8000, -0x8001, 0xffff]
RANDOM_COUNT = 1 << 15
SEED = 0x9E3779B9


def xorshift32(seed, n):
    out = np.empty(n, np.uint32)
    x = seed
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x
    return out


def quiet_f32(w):
    w = w.copy()
    nan = ((w & 0x7F800000) == 0x7F800000) & ((w & 0x007FFFFF) != 0)
    w[nan] |= 0x00400000
    return w


def f32_to_f16(bits):
    bits = np.asarray(bits, np.uint32)
    # Quiet NaN inputs first: numpy then keeps the top payload bits of a quiet NaN, as IEEE asks.
    return quiet_f32(bits).view(np.float32).astype(np.float16).view(np.uint16)


def f32_to_bf16(bits):
    x = np.asarray(bits, np.uint32).astype(np.uint64)
    nan = (x & 0x7FFFFFFF) > 0x7F800000
    rounded = ((x + 0x7FFF + ((x >> 16) & 1)) >> 16) & 0xFFFF
    return np.where(nan, (x >> 16) | 0x40, rounded).astype(np.uint16)


def bf16_to_f32(b):
    b = np.asarray(b, np.uint16).astype(np.uint32)
    nan = (b & 0x7FFF) > 0x7F80
    return np.where(nan, b | 0x40, b).astype(np.uint32) << 16


def nearest_bits(v, mant_bits, exp_bits):
    """Exact round-to-nearest-even of a finite float v to a binary format (sign, exp, mantissa bits)."""
    bias = (1 << (exp_bits - 1)) - 1
    sign = (1 << (mant_bits + exp_bits)) if math.copysign(1, v) < 0 else 0
    a = Fraction(abs(v))
    if a == 0:
        return sign
    e = math.frexp(abs(v))[1] - 1
    e = max(e, 1 - bias)
    q = round(a / Fraction(2) ** (e - mant_bits))  # Fraction round is half to even, exactly
    if q == 2 ** (mant_bits + 1):
        q //= 2
        e += 1
    if e > bias:
        return sign | (((1 << exp_bits) - 1) << mant_bits)
    if q < 2 ** mant_bits:  # subnormal
        return sign | q
    return sign | ((e + bias) << mant_bits) | (q - 2 ** mant_bits)


def f32(bits):
    return struct.unpack('<f', struct.pack('<I', int(bits)))[0]


def main():
    np.seterr(over='ignore')  # overflow to Inf is what is being recorded
    os.makedirs(OUT, exist_ok=True)
    every = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    f16_to_f32 = quiet_f32(every.view(np.float16).astype(np.float32).view(np.uint32))
    bf_to_f32 = bf16_to_f32(every)

    def sweep(table, deltas, convert):
        idx = np.repeat(np.arange(65536, dtype=np.int64), len(deltas))
        inputs = ((table.astype(np.int64)[idx] + np.tile(np.array(deltas, np.int64), 65536)) & 0xFFFFFFFF).astype(np.uint32)
        return inputs, ((convert(inputs).astype(np.int64) - idx) & 0xFFFF).astype(np.uint16)

    f16_inputs, f16_sweep = sweep(f16_to_f32, F16_DELTAS, f32_to_f16)
    bf_inputs, bf_sweep = sweep(bf_to_f32, BF16_DELTAS, f32_to_bf16)
    rand = xorshift32(SEED, RANDOM_COUNT)
    f16_rand = f32_to_f16(rand)
    bf_rand = f32_to_bf16(rand)

    # Independent check of the bfloat16 bit arithmetic (and numpy's float16) by exact search.
    for inputs in (bf_inputs[::97], f16_inputs[::89], rand[::7]):
        for x in inputs:
            v = f32(x)
            if math.isnan(v):
                continue
            want_bf = nearest_bits(v, 7, 8) if not math.isinf(v) else (0xFF80 if v < 0 else 0x7F80)
            assert int(f32_to_bf16([x])[0]) == want_bf, hex(x)
            want_h = nearest_bits(v, 10, 5) if not math.isinf(v) else (0xFC00 if v < 0 else 0x7C00)
            assert int(f32_to_f16([x])[0]) == want_h, hex(x)

    edges = []
    def edge(bits, why):
        bits &= 0xFFFFFFFF
        edges.append({'input': f'{bits:08x}', 'f16': f'{int(f32_to_f16([bits])[0]):04x}',
                      'bf16': f'{int(f32_to_bf16([bits])[0]):04x}', 'why': why})

    for s in (0, 0x80000000):
        edge(s | 0x477FE000, '65504, float16 max')
        edge(s | 0x477FEFFF, 'just below the 65520 tie')
        edge(s | 0x477FF000, '65520 tie: rounds to Inf')
        edge(s | 0x477FF001, 'just above the tie')
        edge(s | 0x7F7FFFFF, 'float32 max: bfloat16 Inf')
        edge(s | 0x7F7F7FFF, 'just below the bfloat16 overflow tie')
        edge(s | 0x7F7F8000, 'bfloat16 overflow tie to Inf')
        edge(s | 0x38800000, '2^-14, smallest normal float16')
        edge(s | 0x387FC000, 'largest subnormal float16')
        edge(s | 0x387FE000, 'tie between largest subnormal and smallest normal')
        edge(s | 0x33800000, '2^-24 smallest subnormal float16')
        edge(s | 0x33000000, '2^-25 tie to 0')
        edge(s | 0x33000001, 'just above 2^-25: rounds to 2^-24')
        edge(s | 0x32FFFFFF, 'just below 2^-25: rounds to 0')
        edge(s | 0x33C00000, '1.5 * 2^-24 tie to 2 * 2^-24')
        edge(s | 0x00000001, 'smallest float32 subnormal')
        edge(s | 0x00800000, 'smallest float32 normal')
        edge(s | 0x007FFFFF, 'largest float32 subnormal: bfloat16 rounds up to normal')
        edge(s | 0x7F800000, 'infinity')
        edge(s, 'zero')
        for m in range(0, 1024, 37):
            # (m + 0.5) * 2^-24, the tie between subnormals m and m + 1, and either side of it.
            t = struct.unpack('<I', struct.pack('<f', (m + 0.5) * 2.0 ** -24))[0]
            for d in (-1, 0, 1):
                edge(s | (t + d), f'subnormal tie {m}.5 * 2^-24 {d:+d} ulp')
        for payload in (1, 0x1000, 0x1FFF, 0x2000, 0x3FFFFF, 0x400000, 0x400001, 0x7FFFFF, 0x7FE000, 0x00FFFF, 0x010000):
            edge(s | 0x7F800000 | payload, f'NaN payload {payload:06x}')

    doubles = [1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 - 2 ** -40, 65519.99999999,
               65520.0, 1e300, -1e300, 2 ** -25, 2 ** -25 + 2 ** -60, 5e-324, -0.0, 0.0, 0.1, 1 / 3, math.pi,
               1 + 2 ** -8 + 2 ** -40, 1 + 2 ** -8, 3.3895313892515355e38, 3.4e38, 2 ** -133, 2 ** -134,
               2 ** -134 + 2 ** -160, 1.5 * 2 ** -133, 2 ** 128, math.inf, -math.inf, 1e-45, 12345.678]
    scalars = []
    for v in map(float, doubles):
        h = int(np.array([v], np.float64).astype(np.float16).view(np.uint16)[0])
        if not math.isinf(v):
            assert h == nearest_bits(v, 10, 5), v
        b = 0x7F80 | (0x8000 if v < 0 else 0) if math.isinf(v) else nearest_bits(v, 7, 8)
        scalars.append({'value': v.hex(), 'f16': f'{h:04x}', 'bf16': f'{b:04x}'})

    blob = b''.join(a.astype(a.dtype.newbyteorder('<')).tobytes() for a in (
        f16_to_f32, f16_sweep, f16_rand, bf_to_f32, bf_sweep, bf_rand))
    with gzip.GzipFile(os.path.join(OUT, 'golden.bin.gz'), 'wb', mtime=0) as f:
        f.write(blob)
    meta = {
        'generator': 'scripts/gen-float16-golden.py', 'numpy': np.__version__,
        'sections': ['f16_to_f32:u32:65536', f'f32_to_f16_sweep:u16:{65536 * len(F16_DELTAS)}',
                     f'f32_to_f16_rand:u16:{RANDOM_COUNT}', 'bf16_to_f32:u32:65536',
                     f'f32_to_bf16_sweep:u16:{65536 * len(BF16_DELTAS)}', f'f32_to_bf16_rand:u16:{RANDOM_COUNT}'],
        'f16Deltas': F16_DELTAS, 'bf16Deltas': BF16_DELTAS, 'randomCount': RANDOM_COUNT, 'seed': SEED,
        'edges': edges, 'scalars': scalars,
    }
    with open(os.path.join(OUT, 'golden.json'), 'w') as f:
        json.dump(meta, f, indent=0)
        f.write('\n')
    print(f'wrote {len(blob)} bytes of golden data, {len(edges)} edges, {len(scalars)} scalars')


if __name__ == '__main__':
    main()
