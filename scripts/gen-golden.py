#!/usr/bin/env python3
"""Golden vectors for quantkit's core, from an independent numpy reference.

Written from the published formulas, not from the TypeScript:

* PyTorch MinMaxObserver (torch/ao/quantization/observer.py, _calculate_qparams), every op in
  float32: the range is widened to contain 0, then
    asymmetric: scale = (max - min) / (qmax - qmin), zp = clamp(qmin - rint(min / scale))
    symmetric:  scale = max(|min|, |max|) / ((qmax - qmin) / 2), zp = 0 (signed) or
                (qmin + qmax + 1) // 2 (unsigned)
  with scale floored at float32 eps (2**-23).
* ONNX QuantizeLinear: q = saturate(rint(x / scale) + zp), x / scale in float32.
* ONNX DequantizeLinear: x = (q - zp) * scale in float32.
* Fake quantization: DequantizeLinear(QuantizeLinear(x)).
* Parameter sharing: per-tensor, per-axis, and per-block with ONNX opset-21 semantics (parameter
  shape = input shape with axis -> ceil(d / B); the last block may be short). The parameter of
  each element is found from its N-d coordinates (np.indices), not from a strided formula.
* float8 / float4 formats (ONNX Cast table, saturate=1 and 0): every code decoded from its fields,
  and encoding by searching the sorted list of representable values for the nearest one (ties to
  the even code), exactly with fractions.Fraction.

float32 values are stored as uint32 bit patterns so the fixtures are exact.
Run: python3 scripts/gen-golden.py   (writes test/fixtures/golden/*.json; deterministic)
"""

from __future__ import annotations

import bisect
import json
import math
import os
from fractions import Fraction

import numpy as np

F32 = np.float32
EPS = F32(2.0**-23)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "golden")


def bits(a) -> list[int]:
    return np.asarray(a, dtype=F32).reshape(-1).view(np.uint32).tolist()


def dtype_info(name: str, narrow: bool) -> tuple[bool, int, int]:
    signed = name.startswith("int")
    b = int(name[3:] if signed else name[4:])
    qmin = -(2 ** (b - 1)) if signed else 0
    qmax = 2 ** (b - 1) - 1 if signed else 2**b - 1
    if narrow:
        assert signed
        qmin += 1
    return signed, qmin, qmax


def param_index(shape: tuple[int, ...], gran: dict) -> tuple[np.ndarray, tuple[int, ...]]:
    """Flat parameter index of every element (C order) and the parameter shape."""
    n = int(np.prod(shape)) if shape else 1
    if gran["kind"] == "per-tensor":
        return np.zeros(n, dtype=np.int64), ()
    rank = len(shape)
    axis = gran["axis"] % rank
    coords = np.indices(shape).reshape(rank, -1)
    if gran["kind"] == "per-axis":
        return coords[axis].astype(np.int64), (shape[axis],)
    block = gran["blockSize"]
    pshape = list(shape)
    pshape[axis] = -(-shape[axis] // block)
    c = coords.copy()
    c[axis] //= block
    return np.ravel_multi_index(tuple(c), tuple(pshape)).astype(np.int64), tuple(pshape)


def observe(x: np.ndarray, pidx: np.ndarray, count: int, allow_inf: bool) -> tuple[np.ndarray, np.ndarray]:
    mn = np.full(count, np.inf, dtype=F32)
    mx = np.full(count, -np.inf, dtype=F32)
    keep = np.isfinite(x) if allow_inf else np.ones(x.shape, dtype=bool)
    np.minimum.at(mn, pidx[keep], x[keep])
    np.maximum.at(mx, pidx[keep], x[keep])
    return mn, mx


def qparams(mn, mx, signed, qmin, qmax, symmetric):
    min_neg = np.minimum(mn, F32(0))
    max_pos = np.maximum(mx, F32(0))
    if symmetric:
        m = np.maximum(-min_neg, max_pos)
        scale = np.maximum(m / F32((qmax - qmin) / 2), EPS)
        zp = np.full(mn.shape, 0 if signed else (qmin + qmax + 1) // 2, dtype=np.int64)
    else:
        scale = np.maximum((max_pos - min_neg) / F32(qmax - qmin), EPS)
        zp = qmin - np.rint(min_neg / scale).astype(np.int64)
        zp = np.clip(zp, qmin, qmax)
    assert scale.dtype == F32
    return scale.astype(F32), zp


def quantize(x, scale_e, zp_e, qmin, qmax):
    v = np.rint(x / scale_e)
    assert v.dtype == F32
    # float64 for the add and clamp: an int cast of rint(1e38 / eps) would overflow.
    return np.clip(v.astype(np.float64) + zp_e, qmin, qmax).astype(np.int64)


def dequantize(q, scale_e, zp_e):
    return (q - zp_e).astype(F32) * scale_e


def make_case(name, x, shape, dtype, gran=None, symmetric=False, narrow=False, allow_inf=False, given=None):
    gran = gran or {"kind": "per-tensor"}
    x = np.asarray(x, dtype=F32).reshape(-1)
    shape = tuple(shape)
    assert x.size == (int(np.prod(shape)) if shape else 1)
    signed, qmin, qmax = dtype_info(dtype, narrow)
    pidx, pshape = param_index(shape, gran)
    count = int(np.prod(pshape)) if pshape else 1
    if given is None:
        mn, mx = observe(x, pidx, count, allow_inf)
        scale, zp = qparams(mn, mx, signed, qmin, qmax, symmetric)
    else:
        scale = np.asarray(given[0], dtype=F32).reshape(-1)
        zp = np.asarray(given[1], dtype=np.int64).reshape(-1)
        assert scale.size == count and zp.size == count
    q = quantize(x, scale[pidx], zp[pidx], qmin, qmax)
    deq = dequantize(q, scale[pidx], zp[pidx])
    assert not np.isnan(deq).any(), name
    return {
        "name": name,
        "dtype": dtype,
        "symmetric": symmetric,
        "narrow": narrow,
        "allowInf": allow_inf,
        "givenParams": given is not None,
        "granularity": gran,
        "shape": list(shape),
        "x": bits(x),
        "paramShape": list(pshape),
        "scale": bits(scale),
        "zeroPoint": zp.tolist(),
        "codes": q.tolist(),
        # Also the expected fake-quantized values: fake quantization is dequantize(quantize(x)).
        "dequantized": bits(deq),
    }


ALL_DTYPES = [f"{s}{b}" for b in range(2, 17) for s in ("int", "uint")]
SPREAD = ["int8", "uint8", "int4", "uint4", "int16", "uint16", "int3", "uint2", "int2", "uint5", "int12", "uint10"]


def affine_cases(rng: np.random.Generator) -> list[dict]:
    cases = []
    for i, dt in enumerate(ALL_DTYPES):
        x = (rng.standard_normal(12) * (0.5 + i) + (i % 3 - 1)).astype(F32)
        cases.append(make_case(f"per-tensor asymmetric {dt}", x, [12], dt))
        cases.append(make_case(f"per-tensor symmetric {dt}", x, [3, 4], dt, symmetric=True))
        if dt.startswith("int"):
            cases.append(make_case(f"per-tensor symmetric narrow {dt}", x, [2, 6], dt, symmetric=True, narrow=True))
            cases.append(make_case(f"per-tensor asymmetric narrow {dt}", x, [12], dt, narrow=True))
    k = 0
    for shape in ([3, 5], [2, 3, 4], [2, 3, 2, 3]):
        n = int(np.prod(shape))
        for axis in list(range(len(shape))) + [-1]:
            for symmetric in (False, True):
                dt = SPREAD[k % len(SPREAD)]
                k += 1
                x = (rng.standard_normal(n) * 3 + rng.standard_normal(n).round()).astype(F32)
                cases.append(make_case(f"per-axis {shape} axis {axis} {'sym' if symmetric else 'asym'} {dt}", x, shape, dt,
                                       {"kind": "per-axis", "axis": axis}, symmetric=symmetric))
    blocked = [([4, 10], 1, 4), ([4, 10], 0, 3), ([4, 10], -1, 16), ([3, 7, 5], 0, 2), ([3, 7, 5], 1, 2),
               ([3, 7, 5], 2, 3), ([2, 3, 5, 4], 2, 2), ([2, 3, 5, 4], -1, 3), ([2, 3, 5, 4], 0, 1), ([6, 9], 1, 9)]
    for shape, axis, block in blocked:
        n = int(np.prod(shape))
        for symmetric in (False, True):
            dt = SPREAD[k % len(SPREAD)]
            k += 1
            x = (rng.standard_normal(n) * 2 - 0.5).astype(F32)
            cases.append(make_case(f"per-block {shape} axis {axis} B={block} {'sym' if symmetric else 'asym'} {dt}", x, shape, dt,
                                   {"kind": "per-block", "axis": axis, "blockSize": block}, symmetric=symmetric))
    return cases


def tricky_cases(rng: np.random.Generator) -> list[dict]:
    c = []
    # Ranges that make scale exactly 1 put x / scale on exact .5 ties: rint must go to even.
    ties_u = [0, 255, 0.5, 1.5, 2.5, 3.5, 100.5, 101.5, 253.5, 254.5, 127.5, 128.5]
    c.append(make_case("ties uint8 scale 1", ties_u, [12], "uint8"))
    ties_i = [-128, 127, -0.5, 0.5, -1.5, 1.5, -2.5, 2.5, -127.5, 126.5, -3.5, 3.5]
    c.append(make_case("ties int8 scale 1", ties_i, [12], "int8"))
    c.append(make_case("ties int8 symmetric scale 1", [127.5, -0.5, 0.5, -1.5, 1.5, 2.5, -2.5, -126.5], [8], "int8", symmetric=True))
    c.append(make_case("ties int4 scale 1", [-8, 7, -7.5, -6.5, -0.5, 0.5, 5.5, 6.5], [8], "int4"))
    c.append(make_case("signed zeros", [0.0, -0.0, 1.0, -0.0, -1.0, 0.0], [6], "int8"))
    c.append(make_case("signed zeros symmetric uint8", [-0.0, 0.0, 2.0, -3.0], [4], "uint8", symmetric=True))
    # Subnormal bit patterns (exponent field 0), alternating in sign; the last is -0.
    sub = np.array([1, 1, 2**20, 2**22 + 3, 0x7FFFFF, 0], dtype=np.uint32)
    sub_x = np.where(np.arange(6) % 2 == 0, sub, sub | np.uint32(0x80000000)).astype(np.uint32).view(F32)
    c.append(make_case("subnormals", sub_x, [6], "int8"))
    c.append(make_case("subnormals uint4 symmetric", sub_x, [6], "uint4", symmetric=True))
    c.append(make_case("huge range", [1e38, -1e38, 3e37, -5e37, 0.0, 1.0], [6], "int8"))
    c.append(make_case("huge range uint16", [1e38, -2e38, 1e30, -1e37, 12345.0, 0.0], [6], "uint16"))
    c.append(make_case("huge range symmetric int16", [3e38, -1e38, 1e20, 2.5, -7.0, 0.0], [6], "int16", symmetric=True))
    c.append(make_case("tiny range", [1e-30, -1e-30, 3e-31, 0.0, -2e-30, 5e-31], [6], "uint8"))
    c.append(make_case("tiny range symmetric int8", [1e-30, -1e-30, 3e-31, 0.0], [4], "int8", symmetric=True))
    c.append(make_case("constant positive", [2.5] * 6, [6], "uint8"))
    c.append(make_case("constant negative", [-0.75] * 6, [2, 3], "int8"))
    c.append(make_case("constant symmetric int4", [3.0] * 5, [5], "int4", symmetric=True))
    c.append(make_case("all zero", [0.0] * 6, [6], "uint8"))
    c.append(make_case("all zero symmetric int8", [0.0] * 4, [4], "int8", symmetric=True))
    c.append(make_case("all zero per-axis", [0.0] * 6, [2, 3], "int4", {"kind": "per-axis", "axis": 1}))
    c.append(make_case("all negative", -np.abs(rng.standard_normal(8)) - 0.25, [8], "uint8"))
    c.append(make_case("all negative int3", -np.abs(rng.standard_normal(8)) - 0.25, [8], "int3"))
    c.append(make_case("all positive", np.abs(rng.standard_normal(8)) + 0.25, [8], "int8"))
    c.append(make_case("all positive uint4 symmetric", np.abs(rng.standard_normal(8)) + 0.25, [8], "uint4", symmetric=True))
    c.append(make_case("per-axis mixed-sign channels", [-1, -2, -3, 1, 2, 3, 0, 0, 0, -1, 0, 5], [4, 3], "int8",
                       {"kind": "per-axis", "axis": 0}))
    c.append(make_case("scalar shape", [1.25], [], "int8"))
    c.append(make_case("single element", [-3.0], [1], "uint8"))
    c.append(make_case("allowInf saturates", [np.inf, -1.0, 2.0, -np.inf, 0.5, 1.0], [6], "int8", allow_inf=True))
    c.append(make_case("allowInf per-axis", [np.inf, 1.0, -2.0, -np.inf, 0.5, 3.0], [2, 3], "uint8",
                       {"kind": "per-axis", "axis": 0}, allow_inf=True))
    # Given parameters and data outside their range: codes saturate at qmin / qmax.
    c.append(make_case("given params saturate int8", [-100, -13.1, -12.8, 0, 0.05, 0.15, 12.7, 13.0, 1e30, -1e30],
                       [10], "int8", given=([0.1], [3])))
    c.append(make_case("given params saturate uint4 per-axis", [-5, 0, 5, 50, -1, 0.25, 0.5, 8], [2, 4], "uint4",
                       {"kind": "per-axis", "axis": 0}, given=([0.5, 0.25], [8, 0])))
    c.append(make_case("given params per-block int2", [-3, -1, 0, 1, 2, 3, -0.4, 0.6, 9], [9], "int2",
                       {"kind": "per-block", "axis": 0, "blockSize": 4}, given=([1.0, 0.5, 2.0], [0, -1, 1])))
    return c


# ---------------------------------------------------------------- float8 / float4 formats

FLOAT8 = {
    # name: (exponent bits, mantissa bits, bias, special values)
    "float8e4m3fn": (4, 3, 7, "fn"),
    "float8e4m3fnuz": (4, 3, 8, "fnuz"),
    "float8e5m2": (5, 2, 15, "ieee"),
    "float8e5m2fnuz": (5, 2, 16, "fnuz"),
    "float4e2m1": (2, 1, 1, "none"),
}


def decode_code(code: int, fmt) -> float:
    e_bits, m_bits, bias, special = fmt
    n = 1 + e_bits + m_bits
    sign = -1.0 if code >> (n - 1) else 1.0
    e = (code >> m_bits) & ((1 << e_bits) - 1)
    m = code & ((1 << m_bits) - 1)
    e_max = (1 << e_bits) - 1
    if special == "ieee" and e == e_max:
        return sign * math.inf if m == 0 else math.nan
    if special == "fn" and e == e_max and m == (1 << m_bits) - 1:
        return math.nan
    if special == "fnuz" and code == 1 << (n - 1):
        return math.nan
    if e == 0:
        return sign * m * 2.0 ** (1 - bias - m_bits)
    return sign * (1 + m / 2**m_bits) * 2.0 ** (e - bias)


def nan_code(sign: int, fmt) -> int:
    e_bits, m_bits, _, special = fmt
    n = 1 + e_bits + m_bits
    if special == "fnuz":
        return 1 << (n - 1)
    if special == "none":
        return (1 << (n - 1)) - 1  # no NaN: ONNX maps NaN to +max (0x7)
    return (sign << (n - 1)) | ((1 << (n - 1)) - 1)


def encode_value(x: float, fmt, saturate: bool) -> int:
    e_bits, m_bits, bias, special = fmt
    n = 1 + e_bits + m_bits
    sign = 1 if math.copysign(1.0, x) < 0 else 0
    if math.isnan(x):
        return nan_code(sign, fmt)
    pos = [(c, decode_code(c, fmt)) for c in range(1 << (n - 1))]
    pos = [(c, v) for c, v in pos if math.isfinite(v)]
    max_code, max_val = pos[-1]
    inf_code = (sign << (n - 1)) | (max_code + 1) if special == "ieee" else None
    max_signed = (sign << (n - 1)) | max_code
    if math.isinf(x):
        if saturate:
            return nan_code(sign, fmt) if special == "fnuz" else max_signed
        return inf_code if special == "ieee" else (max_signed if special == "none" else nan_code(sign, fmt))
    a = Fraction(abs(x))
    # The grid continues one step past the largest finite value ("[x]" of the ONNX Cast table):
    # its code parity is that of max_code + 1, so a tie at the top rounds as IEEE would.
    top_e = math.frexp(max_val)[1] - 1
    step = Fraction(2) ** (top_e - m_bits)
    grid = [(c, Fraction(v)) for c, v in pos] + [(max_code + 1, Fraction(max_val) + step)]
    values = [v for _, v in grid]
    i = bisect.bisect_left(values, a)
    if i >= len(grid):
        c = grid[-1][0]
    elif values[i] == a or i == 0:
        c = grid[i][0]
    else:
        (c_lo, v_lo), (c_hi, v_hi) = grid[i - 1], grid[i]
        d_lo, d_hi = a - v_lo, v_hi - a
        c = c_lo if d_lo < d_hi or (d_lo == d_hi and c_lo % 2 == 0) else c_hi
    if c == max_code + 1:  # rounded past the largest finite value
        if saturate or special == "none":
            return max_signed
        return inf_code if special == "ieee" else nan_code(sign, fmt)
    if c == 0 and special == "fnuz":
        return 0  # no negative zero
    return (sign << (n - 1)) | c


@np.errstate(over="ignore")
def float8_tables() -> dict:
    out = {}
    for name, fmt in FLOAT8.items():
        e_bits, m_bits, _, _ = fmt
        n = 1 + e_bits + m_bits
        decoded = [decode_code(c, fmt) for c in range(1 << n)]
        finite = sorted({v for v in decoded if math.isfinite(v) and v >= 0})
        probes = set()
        for lo, hi in zip(finite, finite[1:]):
            mid = (lo + hi) / 2
            for v in (lo, hi, mid):
                f = F32(v)
                probes.update([float(f), float(np.nextafter(f, F32(np.inf))), float(np.nextafter(f, F32(-np.inf)))])
        mx = finite[-1]
        top_step = 2.0 ** (math.frexp(mx)[1] - 1 - m_bits)
        for v in (mx + top_step / 2, mx + top_step / 4, mx + top_step, mx * 2, 1e30, 3.4028234663852886e38,
                  finite[1] / 2, finite[1] / 4, finite[1] * 0.75, 1e-30, 1e-45, 2.0**-149):
            f = F32(v)
            probes.update([float(f), float(np.nextafter(f, F32(np.inf))), float(np.nextafter(f, F32(-np.inf)))])
        probes = sorted(p for p in probes if p >= 0)
        inputs = [p for p in probes] + [-p for p in probes] + [math.inf, -math.inf, math.nan]
        x = np.array(inputs, dtype=F32)
        out[name] = {
            "exponentBits": e_bits,
            "mantissaBits": m_bits,
            "decoded": bits(np.array(decoded, dtype=F32)),
            "x": bits(x),
            "saturate": [encode_value(float(v), fmt, True) for v in x],
            "noSaturate": [encode_value(float(v), fmt, False) for v in x],
        }
    return out


def write(name: str, payload: dict) -> None:
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def main() -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.default_rng(20240601)
    header = {"generator": "scripts/gen-golden.py", "numpy": np.__version__}
    write("affine.json", {**header, "cases": affine_cases(rng) + tricky_cases(rng)})
    write("float8.json", {**header, "formats": float8_tables()})


if __name__ == "__main__":
    main()
