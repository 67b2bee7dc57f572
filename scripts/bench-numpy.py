#!/usr/bin/env python3
"""The numpy side of bench/kernels.bench.mjs: the same operations, written the plain vectorised way.

Prints one JSON object of median milliseconds: {"n", "numpy", "min_max", "quantize", "dequantize"}.
Usage: bench-numpy.py [n] [runs]
       bench-numpy.py --serve [n]   one operation per line on stdin ("quantize", "min_max",
                                    "dequantize"), one time in ms per line on stdout, so the bench
                                    can alternate numpy's runs with its own in the same stretch of time
"""
import json
import sys
import time

import numpy as np


def median_ms(fn, runs):
    fn()  # warm: first-touch page faults and numpy's temporaries
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def operations(n):
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    qmin, qmax = 0, 255
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    s = np.float32((np.float32(hi) - np.float32(lo)) / np.float32(qmax - qmin))
    zp = np.float32(qmin - np.rint(np.float32(lo) / s))
    q = np.clip(np.rint(x / s) + zp, qmin, qmax).astype(np.uint8)
    return {
        "min_max": lambda: (np.min(x), np.max(x)),
        "quantize": lambda: np.clip(np.rint(x / s) + zp, qmin, qmax).astype(np.uint8),
        "dequantize": lambda: (q.astype(np.float32) - zp) * s,
    }


def serve(n):
    ops = operations(n)
    for fn in ops.values():
        fn()  # warm, as median_ms does
    print(json.dumps({"n": n, "numpy": np.__version__}), flush=True)
    for line in sys.stdin:
        op = line.strip()
        if op not in ops:
            break
        t0 = time.perf_counter()
        ops[op]()
        print((time.perf_counter() - t0) * 1000, flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]) if len(sys.argv) > 2 else 16 * 1024 * 1024)
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16 * 1024 * 1024
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    ops = operations(n)
    out = {"n": n, "numpy": np.__version__}
    for name, fn in ops.items():
        out[name] = median_ms(fn, runs)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
