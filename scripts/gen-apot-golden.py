#!/usr/bin/env python3
"""Golden vectors for src/core/apot.ts, from an independent numpy reference.

The reference follows PyTorch's APoTObserver (torch/ao/quantization/experimental/observer.py) the
slow, literal way: it enumerates the full Cartesian product of the n term sets with
itertools.product, sums each row in float32 from 0 left to right, scales by gamma in float32, then
takes np.unique. Nearest levels come from a brute-force argmin over |level - x| in float64 (the
first minimum, i.e. the lower level on a tie), not from a binary search. quantkit's implementation
deduplicates partial sums and binary-searches midpoints, so agreement checks both.

float32 values are written as their uint32 bit patterns so the JSON round trip is exact.

Usage: python3 scripts/gen-apot-golden.py   (writes test/fixtures/apot/*.json)
"""

import itertools
import json
import os

import numpy as np

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "apot")
F32 = np.float32


def bits_of(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32).tolist()


def term_sets(b, k, signed):
    n = b // k
    sets = []
    for i in range(n):
        p = [F32(0.0)]
        for j in range(2 ** k - 1):
            e = F32(2.0 ** (-(i + j * n)))
            p.append(e)
            if signed:
                p.append(-e)
        sets.append(p)
    return n, sets


def reference_levels(b, k, signed, alpha):
    n, sets = term_sets(b, k, signed)
    p_sum = sum(2.0 ** (-i) for i in range(n))
    alpha = F32(alpha)
    gamma = F32(alpha / F32(p_sum))
    sums = []
    for row in itertools.product(*sets):
        s = F32(0.0)
        for e in row:
            s = F32(s + e)
        sums.append(F32(gamma * s))
    levels = np.unique(np.array(sums, dtype=np.float32))
    levels[levels == 0] = 0.0  # one zero, unsigned
    return alpha, gamma, levels


def nearest(levels, x):
    lv = levels.astype(np.float64)
    d = np.abs(lv[None, :] - x.astype(np.float64)[:, None])
    return np.argmin(d, axis=1)  # first minimum: the lower level on a tie


def probe_data(levels, alpha, rng, count):
    """Random values plus the hard cases: each level, each float32-exact midpoint (a tie), the
    float32 neighbours of each midpoint, and values beyond +-alpha."""
    lv = levels.astype(np.float64)
    mids = (lv[:-1] + lv[1:]) / 2
    exact_mids = mids[mids.astype(np.float32).astype(np.float64) == mids].astype(np.float32)
    near = np.concatenate([
        np.nextafter(exact_mids, np.float32(np.inf)),
        np.nextafter(exact_mids, np.float32(-np.inf)),
    ])
    a = float(alpha)
    rand = (rng.standard_normal(count) * a / 2).astype(np.float32)
    extra = np.array([0.0, a, -a, 1.5 * a, -1.5 * a, 10 * a + 1, -10 * a - 1], dtype=np.float32)
    return np.concatenate([levels, exact_mids, near, rand, extra]).astype(np.float32)


def case(name, b, k, signed, rng, alpha=None, data=None):
    if alpha is None:
        alpha = np.max(np.abs(data))
    alpha, gamma, levels = reference_levels(b, k, signed, alpha)
    x = probe_data(levels, alpha, rng, 64)
    idx = nearest(levels, x)
    return {
        "name": name,
        "bits": b,
        "k": k,
        "signed": signed,
        "alphaFromData": data is not None,
        "dataBits": bits_of(data) if data is not None else None,
        "alphaBits": bits_of([alpha])[0],
        "gammaBits": bits_of([gamma])[0],
        "levelsBits": bits_of(levels),
        "xBits": bits_of(x),
        "indices": idx.tolist(),
        "dequantBits": bits_of(levels[idx]),
    }


def main():
    rng = np.random.default_rng(20240603)
    os.makedirs(OUT_DIR, exist_ok=True)
    data_normal = rng.standard_normal(257).astype(np.float32)
    data_heavy = (rng.standard_t(2, 300) * 0.3).astype(np.float32)
    cases = [
        case("b4-k2-unsigned-alpha1.5", 4, 2, False, rng, alpha=1.5),
        case("b4-k2-signed-alpha1", 4, 2, True, rng, alpha=1.0),
        case("b4-k1-unsigned-alpha0.7", 4, 1, False, rng, alpha=0.7),
        case("b6-k2-signed-alpha2.3", 6, 2, True, rng, alpha=2.3),
        case("b6-k3-unsigned-data", 6, 3, False, rng, data=data_normal),
        case("b8-k2-unsigned-data", 8, 2, False, rng, data=data_heavy),
        case("b8-k4-unsigned-alpha3", 8, 4, False, rng, alpha=3.0),
        case("b8-k4-signed-data", 8, 4, True, rng, data=data_normal),
        case("b6-k6-signed-alpha0.9", 6, 6, True, rng, alpha=0.9),
        case("b8-k1-signed-data", 8, 1, True, rng, data=data_heavy),
    ]
    for c in cases:
        with open(os.path.join(OUT_DIR, c["name"] + ".json"), "w") as f:
            json.dump(c, f, separators=(",", ":"))
            f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
