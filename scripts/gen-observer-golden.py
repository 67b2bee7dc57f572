#!/usr/bin/env python3
"""Golden vectors for the observers (src/core/observers), from an independent numpy reference.

Writes test/fixtures/observers/golden.json. The data sets are regenerated here exactly as
test/fixtures/observers/golden-data.ts makes them (an integer hash, exact float64 arithmetic, one
rounding to float32); a checksum in the fixture guards that. The searches are straightforward ports
of PyTorch's HistogramObserver._non_linear_param_search / _compute_quantization_error and ONNX
Runtime's HistogramCollector.get_entropy_threshold, run on the histogram quantkit's binning rule
produces (also ported here), in float64.

Usage: python3 scripts/gen-observer-golden.py
"""
import json
import os

import numpy as np

SIZE = 8192
SHAPE = (4, 64, 32)
F32 = np.float32


def hash32(v):
    v = v.astype(np.uint32)
    v ^= v >> np.uint32(16)
    v *= np.uint32(0x7FEB352D)
    v ^= v >> np.uint32(15)
    v *= np.uint32(0x846CA68B)
    v ^= v >> np.uint32(16)
    return v


def uniform(seed, idx):
    base = np.uint32((seed * 0x9E3779B9) & 0xFFFFFFFF)
    return (hash32(base + idx.astype(np.uint32)).astype(np.float64) + 0.5) / 4294967296.0


def standard_normal(seed, n):
    i = np.arange(n, dtype=np.uint64)
    s = np.zeros(n)
    for j in range(12):
        s = s + uniform(seed, (12 * i + j) & 0xFFFFFFFF)
    return s - 6.0


def golden_data(name, n=SIZE):
    i = np.arange(n, dtype=np.uint64)
    if name == "normal":
        return (0.5 + 2.0 * standard_normal(1, n)).astype(F32)
    if name == "uniform":
        return (-3.0 + 7.0 * uniform(2, i)).astype(F32)
    v = standard_normal(3, n)
    return np.where(uniform(4, i) < 0.02, 25.0 * v, v).astype(F32)


def binned(x, lo, hi, bins):
    """quantkit's binning rule: bin = clamp(trunc(f32(f32(x - lo) * f32(bins / (hi - lo)))), 0, bins - 1)."""
    if not hi > lo:
        h = np.zeros(bins)
        h[0] = x.size
        return h
    scale = F32(bins / (float(hi) - float(lo)))
    t = (x - F32(lo)) * scale
    idx = np.clip(np.trunc(np.minimum(t, F32(bins))), 0, bins - 1).astype(np.int64)
    return np.bincount(idx, minlength=bins).astype(np.float64)


# --- PyTorch HistogramObserver's search, ported ---------------------------------------------------

def get_norm(delta_begin, delta_end, density):
    return density * (delta_end ** 3 - delta_begin ** 3) / 3


def quantization_error(hist, lo, hi, start_bin, end_bin, dst_nbins):
    bins = hist.size
    bin_width = (hi - lo) / bins
    dst_bin_width = bin_width * (end_bin - start_bin + 1) / dst_nbins
    if dst_bin_width == 0.0:
        return 0.0
    src_bin = np.arange(bins, dtype=np.float64)
    src_bin_begin = (src_bin - start_bin) * bin_width
    src_bin_end = src_bin_begin + bin_width
    dst_bin_of_begin = np.clip(np.floor(src_bin_begin / dst_bin_width), 0, dst_nbins - 1)
    dst_bin_of_begin_center = (dst_bin_of_begin + 0.5) * dst_bin_width
    dst_bin_of_end = np.clip(np.floor(src_bin_end / dst_bin_width), 0, dst_nbins - 1)
    density = hist / bin_width
    norm = get_norm(src_bin_begin - dst_bin_of_begin_center, np.full(bins, dst_bin_width / 2), density)
    norm += (dst_bin_of_end - dst_bin_of_begin - 1) * get_norm(-dst_bin_width / 2, dst_bin_width / 2, density)
    dst_bin_of_end_center = dst_bin_of_end * dst_bin_width + dst_bin_width / 2
    norm += get_norm(-dst_bin_width / 2, src_bin_end - dst_bin_of_end_center, density)
    return float(norm.sum())


def non_linear_param_search(hist, lo, hi, dst_nbins):
    bins = hist.size
    bin_width = (hi - lo) / bins
    total = hist.sum()
    csum = np.cumsum(hist)
    stepsize = 1e-5
    alpha, beta = 0.0, 1.0
    start_bin, end_bin = 0, bins - 1
    norm_min = float("inf")
    while alpha < beta:
        next_alpha = alpha + stepsize
        next_beta = beta - stepsize
        l, r = start_bin, end_bin
        while l < end_bin and csum[l] < next_alpha * total:
            l += 1
        while r > start_bin and csum[r] > next_beta * total:
            r -= 1
        next_start_bin, next_end_bin = start_bin, end_bin
        if (l - start_bin) > (end_bin - r):
            next_start_bin = l
            alpha = next_alpha
        else:
            next_end_bin = r
            beta = next_beta
        if next_start_bin == start_bin and next_end_bin == end_bin:
            continue
        norm = quantization_error(hist, lo, hi, next_start_bin, next_end_bin, dst_nbins)
        if norm > norm_min:
            break
        norm_min = norm
        start_bin, end_bin = next_start_bin, next_end_bin
    return start_bin, end_bin, lo + bin_width * start_bin, lo + bin_width * (end_bin + 1)


# --- ONNX Runtime's entropy threshold, ported ------------------------------------------------------

def smooth_distribution(p, eps=0.0001):
    is_zeros = (p == 0).astype(np.float64)
    is_nonzeros = (p != 0).astype(np.float64)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    hist = p.astype(np.float64) + eps * is_zeros + (-eps1) * is_nonzeros
    if (hist <= 0).sum() != 0:
        return None
    return hist


def kl(p, q):
    p = p / p.sum()
    q = q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def entropy_threshold(hist, lo, hi, min_value, max_value, num_quantized_bins):
    bins = hist.size
    step = (hi - lo) / bins
    edges = [F32(lo + k * step) for k in range(bins)] + [F32(hi)]
    zero_bin_index = bins // 2
    num_half_quantized_bin = num_quantized_bins // 2
    divs = []
    thresholds = []
    for i in range(num_half_quantized_bin, zero_bin_index + 1):
        start_index = zero_bin_index - i
        end_index = min(zero_bin_index + i + 1, bins)
        thresholds.append((start_index, end_index))
        sliced = hist[start_index:end_index].copy()
        p = sliced.copy()
        p[0] += hist[:start_index].sum()
        p[-1] += hist[end_index:].sum()
        nonzeros = (p != 0).astype(np.int64)
        quantized_bins = np.zeros(num_quantized_bins, dtype=np.int64)
        num_merged_bins = sliced.size // num_quantized_bins
        for index in range(num_quantized_bins):
            start = index * num_merged_bins
            quantized_bins[index] = sliced[start:start + num_merged_bins].sum()
        quantized_bins[-1] += sliced[num_quantized_bins * num_merged_bins:].sum()
        q = np.zeros(p.size, dtype=np.int64)
        for index in range(num_quantized_bins):
            start = index * num_merged_bins
            norm = nonzeros[start:start + num_merged_bins].sum()
            if norm != 0:
                q[start:start + num_merged_bins] = quantized_bins[index] / norm
        ps = smooth_distribution(p)
        qs = smooth_distribution(q.astype(np.float64))
        divs.append(float("inf") if ps is None or qs is None else kl(ps, qs))
    best = int(np.argmin(divs))
    s, e = thresholds[best]
    t_min, t_max = float(edges[s]), float(edges[e])
    return {"startIndex": s, "endIndex": e, "min": max(t_min, float(min_value)), "max": min(t_max, float(max_value)),
            "divergence": divs[best]}


# --- the fixture -----------------------------------------------------------------------------------

def moving_average(batches, c):
    c = F32(c)
    lo, hi = None, None
    for b in batches:
        bmin, bmax = b.min(), b.max()
        if lo is None:
            lo, hi = bmin, bmax
        else:
            lo = F32(lo + F32(c * F32(bmin - lo)))
            hi = F32(hi + F32(c * F32(bmax - hi)))
    return float(lo), float(hi)


def outlier(x, k):
    x64 = x.astype(np.float64)
    mean, std = float(x64.mean()), float(x64.std())
    return {"mean": mean, "std": std, "min": max(float(x.min()), mean - k * std), "max": min(float(x.max()), mean + k * std)}


def per_channel(x, axis):
    moved = np.moveaxis(x.reshape(SHAPE), axis, 0)
    return moved.reshape(moved.shape[0], -1)


def main():
    out = {"size": SIZE, "shape": list(SHAPE), "sets": {}}
    for name in ("normal", "uniform", "heavy"):
        x = golden_data(name)
        lo, hi = x.min(), x.max()
        entry = {
            "checksum": float(x.astype(np.float64).sum()),
            "head": [float(v) for v in x[:4]],
            "min": float(lo),
            "max": float(hi),
            "movingAverage": {"c": 0.1, "batches": 4, "range": moving_average(np.split(x, 4), 0.1)},
            "percentile": {
                "bins": 2048,
                "binWidth": (float(hi) - float(lo)) / 2048,
                "p": [0.1, 99.9, 0.01, 99.99, 50.0],
                "values": [float(v) for v in np.percentile(x, [0.1, 99.9, 0.01, 99.99, 50.0])],
            },
            "outlier": outlier(x, 3.0),
        }
        hist = binned(x, lo, hi, 2048)
        entry["histogram"] = {"bins": 2048, "lo": float(lo), "hi": float(hi),
                              "counts": [int(c) for c in hist]}
        entry["mse"] = {}
        for bits in (8, 4):
            s, e, mn, mx = non_linear_param_search(hist, float(lo), float(hi), 2 ** bits)
            entry["mse"][str(bits)] = {"startBin": s, "endBin": e, "min": mn, "max": mx}
        t = max(abs(float(lo)), abs(float(hi)))
        shist = binned(x, -t, t, 2048)
        entry["entropy"] = {"bins": 2048, "T": t, "counts": [int(c) for c in shist]}
        for bits in (8, 6):
            entry["entropy"][str(bits)] = entropy_threshold(shist, -t, t, lo, hi, 2 ** (bits - 1))
        for axis in (0, -1):
            rows = per_channel(x, axis)
            entry[f"perChannel{axis}"] = {
                "min": [float(v) for v in rows.min(axis=1)],
                "max": [float(v) for v in rows.max(axis=1)],
                "p99": [float(v) for v in np.percentile(rows, 99.0, axis=1)],
                "binWidth": [(float(a) - float(b)) / 2048 for a, b in zip(rows.max(axis=1), rows.min(axis=1))],
                "outlier": [outlier(r, 3.0) for r in rows],
            }
        out["sets"][name] = entry
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "observers", "golden.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
