#!/usr/bin/env python3
"""Golden vectors for quantkit's ggml block types (src/core/ggml/), made by llama.cpp itself.

Loads libggml-base.so from the pinned @node-llama-cpp/linux-x64 package (the llama.cpp build
node-llama-cpp ships) with ctypes and, for every type quantkit implements and every input case,
calls ggml_quantize_chunk(type, x, dst, 0, rows, row_length, imatrix) — what llama-quantize calls —
and dequantize_row_<type> (ggml_fp16_to_fp32_row / ggml_bf16_to_fp32_row for F16 / BF16) on the
result. Without an importance matrix it also calls quantize_row_<type>_ref and records whether the
two agree (they do for every type but IQ4_NL, whose _ref tries no alternative scales).

Writes test/fixtures/ggml/
  inputs.bin   float32 little-endian: each case's x then (if any) its imatrix
  <TYPE>.bin   for each case in order: the quantized bytes, then the dequantized float32 values
  index.json   cases (name, rows, rowLength, offsets into inputs.bin); per type, the ggml id and for
               each case the offsets and lengths of its bytes and values in <TYPE>.bin; and the
               library's whole type table (ggml_type_name, ggml_blck_size, ggml_type_size by id)

Inputs are seeded (numpy default_rng), so rerunning writes the same files.
Run: python3 scripts/gen-ggml-golden.py
"""
import ctypes
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64', 'libggml-base.so')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'ggml')
ROW = 512

# name: ggml type id (ggml.h's enum ggml_type; checked against ggml_type_name below)
TYPES = {
    'F32': 0, 'F16': 1, 'BF16': 30, 'Q4_0': 2, 'Q4_1': 3, 'Q5_0': 6, 'Q5_1': 7, 'Q8_0': 8,
    'Q2_K': 10, 'Q3_K': 11, 'Q4_K': 12, 'Q5_K': 13, 'Q6_K': 14, 'IQ4_NL': 20, 'IQ4_XS': 23,
    'MXFP4': 39, 'TQ1_0': 34, 'TQ2_0': 35,
}

lib = ctypes.CDLL(LIB)
lib.ggml_type_name.restype = ctypes.c_char_p
lib.ggml_blck_size.restype = ctypes.c_int64
lib.ggml_type_size.restype = ctypes.c_size_t
lib.ggml_row_size.restype = ctypes.c_size_t
lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
lib.ggml_quantize_chunk.restype = ctypes.c_size_t
lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                    ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
for name, tid in TYPES.items():
    assert lib.ggml_type_name(tid).decode().upper() == name, (name, lib.ggml_type_name(tid))


def ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def quantize_chunk(tid, x, rows, imatrix):
    size = lib.ggml_row_size(tid, ROW) * rows
    dst = np.zeros(size, dtype=np.uint8)
    got = lib.ggml_quantize_chunk(tid, ptr(x), ptr(dst), 0, rows, ROW, ptr(imatrix) if imatrix is not None else None)
    assert got == size
    return dst


def quantize_ref(name, x, size):
    fn = getattr(lib, 'quantize_row_%s_ref' % name.lower().replace('_k', '_K'), None)
    if fn is None:
        return None
    dst = np.zeros(size, dtype=np.uint8)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn(ptr(x), ptr(dst), x.size)
    return dst


def dequantize(name, q, n):
    y = np.zeros(n, dtype=np.float32)
    if name == 'F32':
        return q.view(np.float32).copy()
    fn = {'F16': 'ggml_fp16_to_fp32_row', 'BF16': 'ggml_bf16_to_fp32_row'}.get(name)
    fn = getattr(lib, fn or 'dequantize_row_%s' % name.lower().replace('_k', '_K'))
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn(ptr(q), ptr(y), n)
    return y


rng = np.random.default_rng(20261207)
f32 = np.float32


def normal(rows, scale=1.0):
    return (rng.standard_normal(rows * ROW) * scale).astype(f32)


def mixed_blocks(rows):
    """Blocks of 32 with the shapes search loops and min paths branch on."""
    n = rows * ROW
    x = np.zeros(n, dtype=f32)
    for b in range(n // 32):
        kind = b % 12
        v = rng.standard_normal(32)
        if kind == 0: v = np.abs(v) + 0.5                  # positive only: min > 0 clamps to 0
        elif kind == 1: v = -np.abs(v) - 0.5               # negative only
        elif kind == 2: v = np.zeros(32)                   # a zero group inside a non-zero super-block
        elif kind == 3: v = np.zeros(32); v[rng.integers(32)] = 3.0   # one value
        elif kind == 4: v = np.where(np.arange(32) % 2 == 0, 1.0, -1.0)   # alternating
        elif kind == 5: v = rng.integers(-8, 8, 32) * 0.5    # exact ties after scaling
        elif kind == 6: v = rng.integers(-16, 16, 32).astype(float)
        elif kind == 7: v = v * 1e-3
        elif kind == 8: v = np.full(32, -2.5)
        elif kind == 9: v = np.linspace(-1, 1, 32)
        elif kind == 10: v = v + 10.0                       # large offset, small spread
        x[32 * b:32 * b + 32] = v
    return x


def pow2_edges(rows):
    """Block maxima just under, at and just over powers of two (MXFP4's log2 and the fp16 scale rounding)."""
    x = normal(rows, 0.25)
    for b in range(rows * ROW // 32):
        k = int(rng.integers(-20, 20))
        m = [np.nextafter(f32(2.0 ** k), f32(0)), f32(2.0 ** k), np.nextafter(f32(2.0 ** k), f32(np.inf))][b % 3]
        x[32 * b:32 * b + 32] *= f32(2.0 ** k)
        x[32 * b + int(rng.integers(32))] = m * (1 if b % 2 else -1)
    return x.astype(f32)


def fp16_edges(rows):
    """Values at and between float16 neighbours, around its largest finite value and in its subnormals."""
    h = rng.integers(0, 0x7c00, rows * ROW).astype(np.uint16)
    lo = h.view(np.float16).astype(f32)
    hi = (h + 1).view(np.float16).astype(f32)
    pick = rng.integers(0, 4, rows * ROW)
    mid = ((lo.astype(np.float64) + hi.astype(np.float64)) / 2).astype(f32)   # exact halfway points
    x = np.where(pick == 0, lo, np.where(pick == 1, mid, np.where(pick == 2, np.nextafter(mid, f32(0)), np.nextafter(mid, f32(np.inf)))))
    x = np.where(rng.integers(0, 2, rows * ROW) == 1, -x, x).astype(f32)
    x[:8] = [65504, 65519.996, 65520, 65536, 6.0e-8, 2.98e-8, 2.9802322e-8, 1e-9]
    return x


def outliers(rows):
    x = normal(rows, 0.05)
    idx = rng.choice(x.size, x.size // 100, replace=False)
    x[idx] = (rng.standard_normal(idx.size) * 5.0).astype(f32)
    return x


def imatrix(kind):
    if kind == 'chi2':
        return (rng.chisquare(2, ROW) * 0.5).astype(f32)
    if kind == 'sparse':
        w = (rng.random(ROW) * 3).astype(f32)
        w[rng.random(ROW) < 0.1] = 0
        return w
    if kind == 'ones':
        return np.ones(ROW, dtype=f32)
    raise ValueError(kind)


def cases():
    yield 'normal', normal(8), None
    yield 'weights', (rng.standard_t(5, 8 * ROW) * 0.02).astype(f32), None
    yield 'constant', np.concatenate([np.full(ROW, 0.37, f32), np.full(ROW, -1.5, f32)]), None
    yield 'zero', np.zeros(2 * ROW, f32), None
    yield 'subnormal', np.concatenate([normal(1, 1e-39), normal(1, 1e-42)]), None
    yield 'tiny', np.concatenate([normal(1, 1e-20), normal(1, 1e-6)]), None
    yield 'huge', np.concatenate([normal(1, 1e30), normal(1, 8e37)]), None
    yield 'fp16-overflow', np.concatenate([normal(1, 3e6), normal(1, 6e4)]), None
    yield 'fp16-edges', fp16_edges(2), None
    yield 'outliers', outliers(4), None
    yield 'mixed', mixed_blocks(4), None
    yield 'pow2', pow2_edges(2), None
    yield 'normal-imatrix', normal(8), imatrix('chi2')
    yield 'weights-imatrix', (rng.standard_t(5, 4 * ROW) * 0.02).astype(f32), imatrix('sparse')
    yield 'outliers-imatrix', outliers(4), imatrix('chi2')
    yield 'mixed-imatrix', mixed_blocks(4), imatrix('ones')
    yield 'constant-imatrix', np.concatenate([np.full(ROW, 0.37, f32), np.full(ROW, -1.5, f32)]), imatrix('chi2')
    yield 'zero-imatrix', np.zeros(2 * ROW, f32), imatrix('sparse')
    yield 'huge-imatrix', np.concatenate([normal(1, 1e30), normal(1, 1e-39)]), imatrix('chi2')


def main():
    os.makedirs(OUT, exist_ok=True)
    inputs = bytearray()
    index = {'rowLength': ROW, 'cases': [], 'types': {}, 'table': []}
    # GGML_TYPE_COUNT of this build is 43 (Q2_0 = 42 is its last type); ggml_type_name past it reads out of bounds.
    assert lib.ggml_type_name(42) == b'q2_0'
    for tid in range(43):
        name = lib.ggml_type_name(tid)
        if lib.ggml_blck_size(tid) > 0:
            index['table'].append({'name': name.decode().upper(), 'id': tid,
                                   'blockSize': lib.ggml_blck_size(tid), 'typeSize': lib.ggml_type_size(tid)})
    all_cases = list(cases())
    for name, x, im in all_cases:
        assert x.dtype == f32 and x.size % ROW == 0
        entry = {'name': name, 'rows': x.size // ROW, 'xOffset': len(inputs)}
        inputs += x.tobytes()
        entry['imatrixOffset'] = None
        if im is not None:
            entry['imatrixOffset'] = len(inputs)
            inputs += im.tobytes()
        index['cases'].append(entry)
    with open(os.path.join(OUT, 'inputs.bin'), 'wb') as fh:
        fh.write(inputs)

    for tname, tid in TYPES.items():
        blob = bytearray()
        entries = []
        ref_differs = []
        for name, x, im in all_cases:
            rows = x.size // ROW
            q = quantize_chunk(tid, x, rows, im)
            if im is None:
                r = quantize_ref(tname, x, q.size)
                if r is not None and not np.array_equal(r, q):
                    ref_differs.append(name)
            y = dequantize(tname, q, x.size)
            e = {'case': name, 'qOffset': len(blob), 'qLength': q.size}
            blob += q.tobytes()
            e['yOffset'] = len(blob)
            blob += y.tobytes()
            entries.append(e)
        with open(os.path.join(OUT, tname + '.bin'), 'wb') as fh:
            fh.write(blob)
        index['types'][tname] = {'id': tid, 'refDiffersFromChunk': ref_differs, 'entries': entries}
    with open(os.path.join(OUT, 'index.json'), 'w') as fh:
        json.dump(index, fh, indent=1)
        fh.write('\n')
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print('wrote %d types x %d cases, %d bytes' % (len(TYPES), len(all_cases), total))


if __name__ == '__main__':
    main()
