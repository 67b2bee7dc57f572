#!/usr/bin/env python3
"""The numpy side of bench/cli.bench.mjs: what a user would write to quantize a .npy per-tensor to
uint8 (PyTorch MinMaxObserver parameters, ONNX QuantizeLinear rounding): load -> min/max ->
quantize -> save. Prints the wall time of each run in seconds, one per line.

usage: bench-cli-numpy.py IN.npy OUT.npy RUNS
"""
import sys
import time

import numpy as np


def quantize_file(src: str, dst: str) -> None:
    x = np.load(src)
    lo = np.float32(min(x.min(), 0))
    hi = np.float32(max(x.max(), 0))
    scale = np.float32(max(np.float32(hi - lo) / np.float32(255), np.finfo(np.float32).eps))
    zero_point = int(np.clip(0 - np.rint(lo / scale), 0, 255))
    q = np.clip(np.rint(x / scale) + zero_point, 0, 255).astype(np.uint8)
    np.save(dst, q)


def main() -> None:
    src, dst, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for _ in range(runs):
        t0 = time.perf_counter()
        quantize_file(src, dst)
        print(time.perf_counter() - t0, flush=True)


if __name__ == "__main__":
    main()
