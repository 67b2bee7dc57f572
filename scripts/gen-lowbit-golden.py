#!/usr/bin/env python3
"""Golden vectors for src/core/lowbit/*, from independent numpy ports of the published algorithms.

Each port follows its paper's reference code the literal way, written from the algorithm rather
than from quantkit's TypeScript:
  - RTN: PyTorch's MinMaxObserver per block (range widened to contain 0, float32 arithmetic) and
    ONNX QuantizeLinear (round half to even of the float32 quotient, plus the zero point, clamped).
    Every port below quantizes on this grid, which is what quantkit stores.
  - GPTQ (IST-DASLab gptq.py fasterquant): dead columns, dampening, H^-1 = inv(L)^T inv(L) with
    L = cholesky(H), then the upper Cholesky factor of that (numpy's cholesky(.).T), the column
    loop over lazy batches with W1/Err1 copies and W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:] (BLAS);
    group parameters from W[:, c:c+g] at each group's first column; act order as AutoGPTQ's
    static_groups (parameters from W before the permutation, a column keeps its original group);
    mse=True: quant.py's find_params grid search over shrunk ranges (maxshrink 0.8, grid 100, norm 2.4).
    quantkit forms the factor another way (Cholesky of the reversed matrix and one triangular
    inverse) and sums in another order, so agreement of the codes checks both.
  - AWQ (llm-awq auto_scale.search_module_scale): s = clamp(m^a, 1e-4), s / sqrt(max s * min s),
    for a = k / n_grid; W*s quantized, divided by s; loss = mean((X (Wq - W)^T)^2); first minimum.
  - HQQ (mobiusml/hqq optimize_weights_proximal_legacy), vectorized over blocks as the reference
    is, with quantkit's documented changes: integer zero points (rounded every step), a per-block
    stop on the lp objective and the best iterate kept.
  - search: per block, RTN first, then the scaled-range candidates with a weighted least-squares
    refit (make_qx_quants' idea), written as plain loops.

float32 values are written as uint32 bit patterns so the JSON round trip is exact; float64 values
(the Hessian) as JSON numbers (repr round-trips exactly).

Usage: python3 scripts/gen-lowbit-golden.py   (writes test/fixtures/lowbit/*.json)
"""

import json
import math
import os

import numpy as np

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "lowbit")
F32 = np.float32
EPS = F32(2.0 ** -23)


def bits_of(a):
    return np.asarray(a, dtype=np.float32).reshape(-1).view(np.uint32).tolist()


# ---------------------------------------------------------------- the grid (MinMaxObserver + QuantizeLinear)


class Grid:
    def __init__(self, bits, symmetric, signed=True):
        self.bits, self.symmetric, self.signed = bits, symmetric, signed
        narrow = symmetric and signed
        self.qmin = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0
        self.qmax = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1

    def params(self, lo, hi):
        """MinMaxObserver for one block, float32 arithmetic."""
        lo, hi = F32(lo), F32(hi)
        min_neg, max_pos = min(lo, F32(0)), max(hi, F32(0))
        steps = self.qmax - self.qmin
        if self.symmetric:
            m = max(-min_neg, max_pos)
            scale = max(F32(m / F32(steps / 2)), EPS)
            zp = 0 if self.signed else (self.qmin + self.qmax + 1) // 2
        else:
            scale = max(F32(F32(max_pos - min_neg) / F32(steps)), EPS)
            zp = int(self.qmin - np.rint(F32(min_neg / scale)))
            zp = min(max(zp, self.qmin), self.qmax)
        return F32(scale), zp

    def quant(self, x, scale, zp):
        """QuantizeLinear: the quotient rounded to float32, then half to even."""
        x = np.asarray(x, dtype=np.float64)
        quot = (x / np.float64(scale)).astype(np.float32)
        return np.clip(np.rint(quot).astype(np.int64) + zp, self.qmin, self.qmax)

    def deq(self, q, scale, zp):
        return ((np.asarray(q, dtype=np.float64) - zp) * np.float64(scale)).astype(np.float32)


def rtn(w, grid, g):
    rows, cols = w.shape
    nb = -(-cols // g)
    codes = np.zeros((rows, cols), np.int64)
    scales = np.zeros((rows, nb), np.float32)
    zps = np.zeros((rows, nb), np.int64)
    for r in range(rows):
        for b in range(nb):
            blk = w[r, b * g:(b + 1) * g]
            s, z = grid.params(blk.min(), blk.max())
            scales[r, b], zps[r, b] = s, z
            codes[r, b * g:(b + 1) * g] = grid.quant(blk, s, z)
    return codes, scales, zps


def dequant(codes, scales, zps, g):
    cols = codes.shape[1]
    s = np.repeat(scales, g, axis=1)[:, :cols].astype(np.float64)
    z = np.repeat(zps, g, axis=1)[:, :cols]
    return ((codes - z) * s).astype(np.float32)


# ---------------------------------------------------------------- GPTQ


def shrunk_params(grid, x, maxshrink=0.8, n_grid=100, norm=2.4):
    """GPTQ's Quantizer.find_params with mse=True, one row: ranges p * [xmin, xmax], first strict minimum of sum |q - x|^norm."""
    xmin = min(F32(x.min()), F32(0))
    xmax = max(F32(x.max()), F32(0))
    best, out = math.inf, grid.params(xmin, xmax)
    for i in range(int(maxshrink * n_grid)):
        p = 1 - i / n_grid
        s, z = grid.params(F32(p * np.float64(xmin)), F32(p * np.float64(xmax)))
        err = float(np.sum(np.abs(grid.deq(grid.quant(x, s, z), s, z).astype(np.float64) - x) ** norm))
        if err < best:
            best, out = err, (s, z)
    return out


def gptq(w, H, grid, g, damp=0.01, blocksize=128, actorder=False, mse=False):
    W = w.astype(np.float64).copy()
    H = H.copy()
    rows, cols = W.shape
    nb = -(-cols // g)
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    scales = np.zeros((rows, nb), np.float32)
    zps = np.zeros((rows, nb), np.int64)

    def set_group(src, c0, c1, b):
        for r in range(rows):
            if mse:
                s, z = shrunk_params(grid, src[r, c0:c1].astype(np.float64))
            else:
                s, z = grid.params(F32(src[r, c0:c1].min()), F32(src[r, c0:c1].max()))
            scales[r, b], zps[r, b] = s, z

    perm = np.arange(cols)
    if actorder:
        for b in range(nb):
            set_group(W, b * g, min(cols, (b + 1) * g), b)
        perm = np.argsort(-np.diag(H), kind="stable")
        W = W[:, perm]
        H = H[perm][:, perm]
    H[np.diag_indices(cols)] += damp * np.mean(np.diag(H))
    L = np.linalg.cholesky(H)
    Linv = np.linalg.inv(L)
    Hinv = np.linalg.cholesky(Linv.T @ Linv).T
    codes = np.zeros((rows, cols), np.int64)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].copy()
        Err1 = np.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            col = i1 + i
            orig = perm[col]
            b = orig // g
            if not actorder and col % g == 0:
                set_group(W, col, min(cols, col + g), b)
            w_col = W1[:, i]
            d = Hinv1[i, i]
            q = np.array([grid.quant(w_col[r], scales[r, b], zps[r, b]) for r in range(rows)])
            deq = np.array([grid.deq(q[r], scales[r, b], zps[r, b]) for r in range(rows)], dtype=np.float64)
            codes[:, orig] = q
            err1 = (w_col - deq) / d
            W1[:, i:] -= np.outer(err1, Hinv1[i, i:])
            Err1[:, i] = err1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return codes, scales, zps


# ---------------------------------------------------------------- AWQ


def awq(w, mean_abs, x, grid, g, n_grid=20):
    rows, cols = w.shape
    best, best_k, best_s = math.inf, -1, None
    history = []
    for k in range(n_grid):
        ratio = k / n_grid
        s = np.maximum(np.power(mean_abs.astype(np.float64), ratio), 1e-4)
        s = (s / math.sqrt(s.max() * s.min())).astype(np.float32)
        ws = (w * s[None, :]).astype(np.float32)
        c, sc, z = rtn(ws, grid, g)
        wq = (dequant(c, sc, z, g) / s[None, :]).astype(np.float32)
        D = wq.astype(np.float64) - w.astype(np.float64)
        Y = x.astype(np.float64) @ D.T
        loss = float(np.sum(Y * Y) / (x.shape[0] * rows))
        history.append(loss)
        if loss < best:
            best, best_k, best_s = loss, k, s
    return best_s, best_k / n_grid, best, history


# ---------------------------------------------------------------- HQQ


def seqsum(a):
    """Left-to-right sum along the last axis (the order quantkit's loops add in)."""
    return np.cumsum(a, axis=-1)[..., -1]


def hqq(w, grid, g, iters=20, lp_norm=0.7, beta=10.0, kappa=1.01, float_zero=False, optimize_scale=False):
    rows, cols = w.shape
    assert cols % g == 0, "the vectorized port takes whole blocks"
    c0, s0, z0 = rtn(w, grid, g)
    W = w.reshape(rows, cols // g, g).astype(np.float64)
    scale = s0.astype(np.float64)[..., None]
    zero = z0.astype(np.float64)[..., None]
    best = np.full(scale.shape, np.inf)
    best_zero, best_scale = zero.copy(), scale.copy()
    active = np.ones(scale.shape, bool)

    def quant(W, scale, zero):
        quot = (W / scale).astype(np.float32).astype(np.float64)
        # HQQ's round(W * scale_inv + zero); with an integer zero, QuantizeLinear's round(W / scale) + zero.
        return np.clip(np.rint(quot + zero) if float_zero else np.rint(quot) + zero, grid.qmin, grid.qmax)

    for it in range(iters + 1):
        Wq = quant(W, scale, zero)
        Wr = ((Wq - zero) * scale).astype(np.float32).astype(np.float64)
        X = W - Wr
        err = seqsum(np.power(np.abs(X), lp_norm))[..., None]
        improved = active & (err < best)
        best = np.where(improved, err, best)
        best_zero = np.where(improved, zero, best_zero)
        best_scale = np.where(improved, scale, best_scale)
        active = improved
        if not active.any() or it == iters:
            break
        We = np.sign(X) * np.maximum(np.abs(X) - (1.0 / beta) * np.power(np.abs(X) + 1e-8, lp_norm - 1), 0)
        T = W - We
        beta *= kappa
        to_zero = (lambda z: z.astype(np.float32).astype(np.float64)) if float_zero else (lambda z: np.clip(np.rint(z), grid.qmin, grid.qmax))
        if optimize_scale:
            sq, st, sqq, sqt = seqsum(Wq)[..., None], seqsum(T)[..., None], seqsum(Wq * Wq)[..., None], seqsum(Wq * T)[..., None]
            with np.errstate(divide="ignore", invalid="ignore"):
                if grid.symmetric:
                    den = sqq - 2 * zero * sq + g * zero * zero
                    a = np.where(den > 0, (sqt - zero * st) / den, 0.0)
                    new_zero = zero
                else:
                    den = g * sqq - sq * sq
                    a = np.where(den > 0, (g * sqt - sq * st) / den, 0.0)
                    new_zero = np.where(a > 0, to_zero(-(st - a * sq) / g / a), zero)
            ok = active & (a > 0) & np.isfinite(a)
            scale = np.where(ok, np.maximum(a.astype(np.float32), EPS).astype(np.float64), scale)
            zero = np.where(ok, new_zero, zero)
        elif not grid.symmetric:
            z_new = ((seqsum(Wq) - seqsum(T) / scale[..., 0]) / g)[..., None]
            zero = np.where(active, to_zero(z_new), zero)
    zf = best_zero[..., 0].astype(np.float32)
    scales = best_scale[..., 0].astype(np.float32)
    zps = np.clip(np.rint(zf), grid.qmin, grid.qmax).astype(np.int64)
    codes = quant(W, best_scale, best_zero).reshape(rows, cols).astype(np.int64)
    return codes, scales, zps, zf, best[..., 0]


# ---------------------------------------------------------------- search


def search(w, grid, g, importance=None, steps=10):
    rows, cols = w.shape
    codes, scales, zps = rtn(w, grid, g)
    imp = np.ones(cols) if importance is None else importance.astype(np.float64)
    for r in range(rows):
        for b in range(-(-cols // g)):
            v = w[r, b * g:(b + 1) * g]
            u = imp[b * g:(b + 1) * g]
            n = len(v)

            def error_of(s, z):
                d = v.astype(np.float64) - grid.deq(grid.quant(v, s, z), s, z).astype(np.float64)
                e = 0.0
                for j in range(n):
                    e += float(u[j]) * float(d[j]) * float(d[j])
                return e

            lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
            best_s, best_z = scales[r, b], int(zps[r, b])
            best = error_of(best_s, best_z)
            amax = max(-lo, hi)
            if amax > 0:
                for k in range(-steps, steps + 1):
                    delta = 0 if steps == 0 else 0.9 * k / steps
                    if grid.symmetric:
                        s = max(F32(amax / ((grid.qmax - grid.qmin) / 2 + delta)), EPS)
                        z = 0 if grid.signed else (grid.qmin + grid.qmax + 1) // 2
                    else:
                        s = max(F32((hi - lo) / (grid.qmax - grid.qmin + delta)), EPS)
                        z = min(max(int(grid.qmin - np.rint(F32(lo / float(s)))), grid.qmin), grid.qmax)
                    q = grid.quant(v, s, z)
                    sw = sq = sv = sqq = sqv = 0.0
                    for j in range(n):
                        uj, qj, vj = float(u[j]), float(q[j]), float(v[j])
                        sw += uj
                        sq += uj * qj
                        sv += uj * vj
                        sqq += uj * qj * qj
                        sqv += uj * qj * vj
                    a, zf = 0.0, z
                    if grid.symmetric:
                        den = sqq - 2 * z * sq + z * z * sw
                        if den > 0:
                            a = (sqv - z * sv) / den
                    else:
                        den = sw * sqq - sq * sq
                        if den > 0:
                            a = (sw * sqv - sq * sv) / den
                            if a > 0:
                                zf = min(max(int(np.rint(-(sv - a * sq) / sw / a)), grid.qmin), grid.qmax)
                                den2 = sqq - 2 * zf * sq + zf * zf * sw
                                a = (sqv - zf * sv) / den2 if den2 > 0 else 0.0
                    cands = [(s, z)]
                    if a > 0 and math.isfinite(a):
                        cands.append((max(F32(a), EPS), zf))
                    for cs, cz in cands:
                        e = error_of(cs, cz)
                        if e < best:
                            best, best_s, best_z = e, cs, cz
            scales[r, b], zps[r, b] = best_s, best_z
            codes[r, b * g:(b + 1) * g] = grid.quant(v, best_s, best_z)
    return codes, scales, zps


# ---------------------------------------------------------------- fixtures


def correlated(rng, n, cols, factors=4):
    z = rng.standard_normal((n, factors))
    a = rng.standard_normal((factors, cols))
    return (z @ a + 0.1 * rng.standard_normal((n, cols))).astype(np.float32)


def write(name, obj):
    with open(os.path.join(OUT_DIR, name + ".json"), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def result(codes, scales, zps):
    return {"codes": codes.reshape(-1).tolist(), "scalesBits": bits_of(scales), "zeroPoints": zps.reshape(-1).tolist()}


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.default_rng(2026)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".json"):
            os.remove(os.path.join(OUT_DIR, f))

    for bits, sym, signed, g in [(4, False, True, 16), (3, True, True, 8), (2, False, False, 12), (8, True, False, 32)]:
        w = rng.standard_normal((5, 40)).astype(np.float32)
        grid = Grid(bits, sym, signed)
        opts = {"bits": bits, "symmetric": sym, "signed": signed, "blockSize": g}
        write(f"rtn-b{bits}-{'sym' if sym else 'asym'}-{'int' if signed else 'uint'}-g{g}", {"kind": "rtn", "rows": 5, "cols": 40, "options": opts, "wBits": bits_of(w), **result(*rtn(w, grid, g))})

    gptq_cases = [
        dict(name="b4-asym-g16-lazy16", bits=4, sym=False, g=16, lazy=16, act=False, dead=False),
        dict(name="b4-asym-g12-lazy16", bits=4, sym=False, g=12, lazy=16, act=False, dead=False),
        dict(name="b3-sym-g8-lazy128", bits=3, sym=True, g=8, lazy=128, act=False, dead=True),
        dict(name="b4-asym-g16-act", bits=4, sym=False, g=16, lazy=16, act=True, dead=False),
        dict(name="b2-asym-g16-act-dead", bits=2, sym=False, g=16, lazy=10, act=True, dead=True),
    ]
    for k, c in enumerate(gptq_cases):
        rows, cols, n = 8, 40, 96
        w, x = gptq_problem(rng, rows, cols, n, c["dead"])
        H = 2.0 / n * (x.astype(np.float64).T @ x.astype(np.float64))
        grid = Grid(c["bits"], c["sym"])
        codes, scales, zps = gptq(w, H, grid, c["g"], blocksize=c["lazy"], actorder=c["act"])
        opts = {"bits": c["bits"], "symmetric": c["sym"], "blockSize": c["g"], "lazyBatch": c["lazy"], "actOrder": c["act"], "damp": 0.01}
        write(f"gptq-{c['name']}", {"kind": "gptq", "rows": rows, "cols": cols, "options": opts, "wBits": bits_of(w), "xBits": bits_of(x) if k == 0 else None, "hessian": H.reshape(-1).tolist(), **result(codes, scales, zps)})

    for bits, sym, g in [(4, False, 16), (3, True, 8)]:
        rows, cols, n = 6, 32, 48
        w = rng.standard_normal((rows, cols)).astype(np.float32)
        x = rng.standard_normal((n, cols)).astype(np.float32)
        x[:, 3] *= 20
        x[:, 17] *= 8
        mean_abs = np.mean(np.abs(x.astype(np.float64)), axis=0).astype(np.float32)
        s, alpha, err, history = awq(w, mean_abs, x, Grid(bits, sym), g)
        opts = {"bits": bits, "symmetric": sym, "blockSize": g, "grid": 20}
        write(f"awq-b{bits}-{'sym' if sym else 'asym'}-g{g}", {"kind": "awq", "rows": rows, "cols": cols, "options": opts, "wBits": bits_of(w), "xBits": bits_of(x), "meanAbsBits": bits_of(mean_abs), "scalesBits": bits_of(s), "alpha": alpha, "error": err, "errors": history})

    for bits, g, mode, opt_scale in [(4, 16, "float", False), (3, 32, "float", True), (2, 8, "integer", True), (4, 16, "integer", False)]:
        rows, cols = 6, 64
        w = rng.standard_normal((rows, cols)).astype(np.float32)
        w[rng.random((rows, cols)) < 0.05] *= 6  # outliers: what the lp < 1 objective lets go
        codes, scales, zps, zf, objective = hqq(w, Grid(bits, False), g, float_zero=mode == "float", optimize_scale=opt_scale)
        opts = {"bits": bits, "blockSize": g, "zeroPoint": mode, "optimizeScale": opt_scale}
        write(f"hqq-b{bits}-g{g}-{mode}{'-scale' if opt_scale else ''}", {"kind": "hqq", "rows": rows, "cols": cols, "options": opts, "wBits": bits_of(w), **result(codes, scales, zps), "zeroPointsFloatBits": bits_of(zf) if mode == "float" else None, "objective": objective.reshape(-1).tolist()})

    for bits, sym, signed, g, weighted in [(4, False, True, 16, False), (3, True, True, 16, True), (2, False, True, 8, True), (3, True, False, 16, False)]:
        rows, cols = 5, 48
        w = rng.standard_normal((rows, cols)).astype(np.float32)
        imp = (rng.random(cols) ** 3 * 10).astype(np.float32) if weighted else None
        codes, scales, zps = search(w, Grid(bits, sym, signed), g, imp)
        opts = {"bits": bits, "symmetric": sym, "signed": signed, "blockSize": g}
        write(f"search-b{bits}-{'sym' if sym else 'asym'}-{'int' if signed else 'uint'}-g{g}{'-imatrix' if weighted else ''}", {"kind": "search", "rows": rows, "cols": cols, "options": opts, "wBits": bits_of(w), "importanceBits": None if imp is None else bits_of(imp), **result(codes, scales, zps)})

    # GPTQ's mse grid (after every other case, so their random draws stay as they were).
    for c in [dict(name="b3-asym-g16-lazy16-mse", bits=3, sym=False, g=16, lazy=16, act=False), dict(name="b4-sym-g8-act-mse", bits=4, sym=True, g=8, lazy=16, act=True)]:
        rows, cols, n = 8, 40, 96
        w = rng.standard_normal((rows, cols)).astype(np.float32)
        w[rng.random((rows, cols)) < 0.05] *= 5  # outliers: what a shrunk range lets clip
        x = correlated(rng, n, cols)
        x *= np.linspace(0.5, 2.0, cols, dtype=np.float32)[rng.permutation(cols)]
        H = 2.0 / n * (x.astype(np.float64).T @ x.astype(np.float64))
        grid = Grid(c["bits"], c["sym"])
        codes, scales, zps = gptq(w, H, grid, c["g"], blocksize=c["lazy"], actorder=c["act"], mse=True)
        plain = gptq(w, H, grid, c["g"], blocksize=c["lazy"], actorder=c["act"])
        assert not np.array_equal(plain[1], scales), "the mse search should move some grid on these outliers"
        opts = {"bits": c["bits"], "symmetric": c["sym"], "blockSize": c["g"], "lazyBatch": c["lazy"], "actOrder": c["act"], "damp": 0.01, "mse": True}
        write(f"gptq-{c['name']}", {"kind": "gptq", "rows": rows, "cols": cols, "options": opts, "wBits": bits_of(w), "xBits": None, "hessian": H.reshape(-1).tolist(), **result(codes, scales, zps)})

    # GPTQ fitted to the float model (GPTAQ's asymmetric objective), after every other case so their draws stay as they were.
    for c in [dict(name="b4-asym-g16-lazy16-drift", bits=4, sym=False, g=16, lazy=16, act=False, dead=False, share=1.0), dict(name="b3-sym-g8-act-drift-share", bits=3, sym=True, g=8, lazy=16, act=True, dead=True, share=0.25)]:
        rows, cols, n = 8, 40, 96
        w, xq = gptq_problem(rng, rows, cols, n, c["dead"])
        # The float model's input: a systematic drift of the quantized one (a mix of its channels) plus noise, live in the dead channel too.
        x = (xq.astype(np.float64) @ (np.eye(cols) + 0.2 * rng.standard_normal((cols, cols)) / math.sqrt(cols)) + 0.05 * rng.standard_normal((n, cols))).astype(np.float32)
        xq64, x64 = xq.astype(np.float64), x.astype(np.float64)
        H = 2.0 / n * (xq64.T @ xq64)
        D = 2.0 / n * ((x64 - xq64).T @ xq64)
        codes, scales, zps = gptq(float_target(w, H, D, c["share"]), H, Grid(c["bits"], c["sym"]), c["g"], blocksize=c["lazy"], actorder=c["act"])
        opts = {"bits": c["bits"], "symmetric": c["sym"], "blockSize": c["g"], "lazyBatch": c["lazy"], "actOrder": c["act"], "damp": 0.01, "floatShare": c["share"]}
        inputs = {"driftInputs": {"quantizedBits": bits_of(xq), "floatBits": bits_of(x)}} if c["share"] == 1.0 else {}
        write(f"gptq-{c['name']}", {"kind": "gptq", "rows": rows, "cols": cols, "options": opts, "wBits": bits_of(w), "xBits": None, "hessian": H.reshape(-1).tolist(), "drift": D.reshape(-1).tolist(), **inputs, **result(codes, scales, zps)})


def gptq_problem(rng, rows, cols, n, dead):
    """A weight and correlated inputs whose channels have distinct energies (so act order has no ties); with `dead`, input 5 always 0."""
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    x = correlated(rng, n, cols)
    x *= np.linspace(0.5, 2.0, cols, dtype=np.float32)[rng.permutation(cols)]
    if dead:
        x[:, 5] = 0
    return w, x


def float_target(w, H, D, share, damp=0.01):
    """GPTAQ's target as the minimizer of (1 - share)·|(W - Q)X~|^2 + share·|WX - QX~|^2: W + share·W·D·H^-1 (H dampened as GPTQ's, dead inputs set to 1)."""
    Hd = H.copy()
    dead = np.diag(Hd) == 0
    Hd[dead, dead] = 1
    Hd[np.diag_indices(len(Hd))] += damp * np.mean(np.diag(Hd))
    W = w.astype(np.float64)
    out = W + share * np.linalg.solve(Hd, (W @ D).T).T
    out[:, dead] = 0
    return out


if __name__ == "__main__":
    main()
