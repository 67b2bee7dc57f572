#!/usr/bin/env python3
"""The numpy side of bench/kernels.bench.mjs: the same operations, written the plain vectorised way.

Prints one JSON object of median milliseconds: {"n", "numpy", "min_max", "quantize", "dequantize"}.
Usage: bench-numpy.py [n] [runs]
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


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16 * 1024 * 1024
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    qmin, qmax = 0, 255
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    s = np.float32((np.float32(hi) - np.float32(lo)) / np.float32(qmax - qmin))
    zp = np.float32(qmin - np.rint(np.float32(lo) / s))
    q = np.clip(np.rint(x / s) + zp, qmin, qmax).astype(np.uint8)
    out = {
        "n": n,
        "numpy": np.__version__,
        "min_max": median_ms(lambda: (np.min(x), np.max(x)), runs),
        "quantize": median_ms(lambda: np.clip(np.rint(x / s) + zp, qmin, qmax).astype(np.uint8), runs),
        "dequantize": median_ms(lambda: (q.astype(np.float32) - zp) * s, runs),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
