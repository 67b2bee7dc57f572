// The float64 kernels of GPTQ (src/core/lowbit/quantize-weight-gptq.ts) in WebAssembly with f64x2
// SIMD: the Cholesky factor of the reversed Hessian, the inverse of that factor, the in-batch
// column update and the lazy-batch update W[:, i2:] −= Err · U[i1:i2, i2:].
//
// Every output element is computed with exactly the operations, in exactly the order, of the
// TypeScript reference (inverse-cholesky.ts, quantize-weight-gptq.ts): a SIMD lane is one of the
// reference's partial sums, never a reassociation, and wasm has no fused multiply-add, so the
// results are bit-identical. What changes is only which elements are computed together: blocks of
// four rows share each load of the rows they read (the reference streams the whole factor from
// memory once per row or pair of rows; here once per four), and the lazy update keeps a 4×4 tile
// of W in registers across the whole batch instead of loading and storing it once per four terms.
//
// Matrices are row-major float64 at byte addresses JS allocates above heapBase(); the module
// never grows its memory itself.

/** First free byte of linear memory (64-byte aligned). */
export function heapBase(): usize {
  return (__heap_base + 63) & ~63;
}

let failed: f64 = 0;

/** The pivot value of the last choleskyInPlace that returned a row (not positive definite). */
export function failedPivot(): f64 {
  return failed;
}

// @ts-ignore: decorator
@inline function p(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

// @ts-ignore: decorator
@inline function ld(base: usize, i: i32): f64 {
  return load<f64>(base + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline function st(base: usize, i: i32, v: f64): void {
  store<f64>(base + (<usize>i << 3), v);
}

/** Σ_{k<len} a[k]·b[k] as inverse-cholesky.ts's dot: partial sums by k mod 4, the tail into s0, then (s0 + s1) + (s2 + s3). */
function dot4(a: usize, b: usize, len: i32): f64 {
  let s01 = f64x2.splat(0);
  let s23 = f64x2.splat(0);
  let k = 0;
  for (; k + 3 < len; k += 4) {
    const pa = p(a, k);
    const pb = p(b, k);
    s01 = f64x2.add(s01, f64x2.mul(v128.load(pa), v128.load(pb)));
    s23 = f64x2.add(s23, f64x2.mul(v128.load(pa, 16), v128.load(pb, 16)));
  }
  let s0 = f64x2.extract_lane(s01, 0);
  const s1 = f64x2.extract_lane(s01, 1);
  const s2 = f64x2.extract_lane(s23, 0);
  const s3 = f64x2.extract_lane(s23, 1);
  for (; k < len; k++) s0 += ld(a, k) * ld(b, k);
  return s0 + s1 + (s2 + s3);
}

/** L[i][j] and L[i][j + 1] (j even, j + 1 < i) exactly as the reference's paired loop. */
function choleskyPair(a: usize, n: i32, i: i32, j: i32): void {
  const ri = p(a, i * n);
  const rj = p(a, j * n);
  const rj1 = p(a, (j + 1) * n);
  let va = f64x2.splat(0);
  let vb = f64x2.splat(0);
  let k = 0;
  for (; k + 1 < j; k += 2) {
    const x = v128.load(p(ri, k));
    va = f64x2.add(va, f64x2.mul(x, v128.load(p(rj, k))));
    vb = f64x2.add(vb, f64x2.mul(x, v128.load(p(rj1, k))));
  }
  let a0 = f64x2.extract_lane(va, 0);
  const a1 = f64x2.extract_lane(va, 1);
  let b0 = f64x2.extract_lane(vb, 0);
  const b1 = f64x2.extract_lane(vb, 1);
  for (; k < j; k++) {
    a0 += ld(ri, k) * ld(rj, k);
    b0 += ld(ri, k) * ld(rj1, k);
  }
  const lij = (ld(ri, j) - (a0 + a1)) / ld(rj, j);
  st(ri, j, lij);
  st(ri, j + 1, (ld(ri, j + 1) - (b0 + b1 + lij * ld(rj1, j))) / ld(rj1, j + 1));
}

/** Row i of L from column j0 (even) on, then its pivot; false when the pivot is not positive. */
function choleskyRowFrom(a: usize, n: i32, i: i32, j0: i32): bool {
  const ri = p(a, i * n);
  let j = j0;
  for (; j + 1 < i; j += 2) choleskyPair(a, n, i, j);
  for (; j < i; j++) {
    const rj = p(a, j * n);
    st(ri, j, (ld(ri, j) - dot4(ri, rj, j)) / ld(rj, j));
  }
  const pivot = ld(ri, i) - dot4(ri, ri, i);
  if (!(pivot > 0)) {
    failed = pivot;
    return false;
  }
  st(ri, i, Math.sqrt(pivot));
  return true;
}

/** L[i][j], L[i][j + 1] for rows i = r0..r0+3 (j even, j + 1 < r0): four rows share each load of rows j and j + 1. */
function choleskyPair4(a: usize, n: i32, r0i: i32, j: i32): void {
  const stride = <usize>n << 3;
  const r0 = p(a, r0i * n);
  const r1 = r0 + stride;
  const r2 = r1 + stride;
  const r3 = r2 + stride;
  const rj = p(a, j * n);
  const rj1 = rj + stride;
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let a2 = f64x2.splat(0);
  let a3 = f64x2.splat(0);
  let b0 = f64x2.splat(0);
  let b1 = f64x2.splat(0);
  let b2 = f64x2.splat(0);
  let b3 = f64x2.splat(0);
  // j is even, so the pairs cover every k < j (the reference's single-k tail never runs).
  for (let k = 0; k + 1 < j; k += 2) {
    const off = <usize>k << 3;
    const y = v128.load(rj + off);
    const z = v128.load(rj1 + off);
    const x0 = v128.load(r0 + off);
    const x1 = v128.load(r1 + off);
    const x2 = v128.load(r2 + off);
    const x3 = v128.load(r3 + off);
    a0 = f64x2.add(a0, f64x2.mul(x0, y));
    b0 = f64x2.add(b0, f64x2.mul(x0, z));
    a1 = f64x2.add(a1, f64x2.mul(x1, y));
    b1 = f64x2.add(b1, f64x2.mul(x1, z));
    a2 = f64x2.add(a2, f64x2.mul(x2, y));
    b2 = f64x2.add(b2, f64x2.mul(x2, z));
    a3 = f64x2.add(a3, f64x2.mul(x3, y));
    b3 = f64x2.add(b3, f64x2.mul(x3, z));
  }
  const djj = ld(rj, j);
  const dj1 = ld(rj1, j + 1);
  const cj = ld(rj1, j);
  finishPair(r0, j, a0, b0, djj, dj1, cj);
  finishPair(r1, j, a1, b1, djj, dj1, cj);
  finishPair(r2, j, a2, b2, djj, dj1, cj);
  finishPair(r3, j, a3, b3, djj, dj1, cj);
}

/**
 * Columns j < i0 of rows i0..i0+rows−1 (rows a multiple of 4): every pair (j, j + 1) with
 * j + 1 < i0 is a paired step of all of them. Rows j and j + 1 are read from memory once per
 * block and from cache by its other groups of four.
 */
function choleskyBlock(a: usize, n: i32, i0: i32, rows: i32): void {
  for (let j = 0; j + 1 < i0; j += 2) for (let m = 0; m < rows; m += 4) choleskyPair4(a, n, i0 + m, j);
}

// @ts-ignore: decorator
@inline function finishPair(ri: usize, j: i32, va: v128, vb: v128, djj: f64, dj1: f64, cj: f64): void {
  const lij = (ld(ri, j) - (f64x2.extract_lane(va, 0) + f64x2.extract_lane(va, 1))) / djj;
  st(ri, j, lij);
  st(ri, j + 1, (ld(ri, j + 1) - (f64x2.extract_lane(vb, 0) + f64x2.extract_lane(vb, 1) + lij * cj)) / dj1);
}

/** Rows per block of the factor and of its inverse: 16 rows of 4096 float64 (512 KiB) stay in L2 while the rows above are streamed once. */
const BLOCK: i32 = 16;

/**
 * In place: `a` holds the n×n symmetric matrix (the reversed Hessian JHJ); its lower triangle and
 * diagonal become L with JHJ = LLᵀ (the upper triangle keeps the input). Returns −1, or the first
 * row whose pivot is not positive (its value: failedPivot()).
 */
export function choleskyInPlace(a: usize, n: i32): i32 {
  let i0 = 0;
  while (i0 + 3 < n) {
    const rows = i0 + BLOCK <= n ? BLOCK : 4;
    choleskyBlock(a, n, i0, rows);
    for (let r = 0; r < rows; r++) if (!choleskyRowFrom(a, n, i0 + r, i0)) return i0 + r;
    i0 += rows;
  }
  for (; i0 < n; i0++) if (!choleskyRowFrom(a, n, i0, 0)) return i0;
  return -1;
}

/** x[dst + j] −= fa0·x[s0 + j] + fa1·x[s1 + j] for j in [0, len). */
// @ts-ignore: decorator
@inline function axpy2(dst: usize, s0: usize, s1: usize, fa0: f64, fa1: f64, len: i32): void {
  const v0 = f64x2.splat(fa0);
  const v1 = f64x2.splat(fa1);
  let j = 0;
  for (; j + 1 < len; j += 2) {
    const o = <usize>j << 3;
    v128.store(dst + o, f64x2.sub(v128.load(dst + o), f64x2.add(f64x2.mul(v0, v128.load(s0 + o)), f64x2.mul(v1, v128.load(s1 + o)))));
  }
  for (; j < len; j++) st(dst, j, ld(dst, j) - (fa0 * ld(s0, j) + fa1 * ld(s1, j)));
}

/** x[dst + j] −= f·x[src + j] for j in [0, len). */
// @ts-ignore: decorator
@inline function axpy1(dst: usize, src: usize, f: f64, len: i32): void {
  const v = f64x2.splat(f);
  let j = 0;
  for (; j + 1 < len; j += 2) {
    const o = <usize>j << 3;
    v128.store(dst + o, f64x2.sub(v128.load(dst + o), f64x2.mul(v, v128.load(src + o))));
  }
  for (; j < len; j++) st(dst, j, ld(dst, j) - f * ld(src, j));
}

/** (e_i − Σ) / L[i][i] of a row whose every term is folded in. */
function finishInverseRow(l: usize, x: usize, n: i32, i: i32): void {
  const ri = p(x, i * n);
  st(ri, i, ld(ri, i) + 1);
  const inv = 1 / ld(l, i * n + i);
  const v = f64x2.splat(inv);
  let j = 0;
  for (; j + 1 <= i; j += 2) v128.store(p(ri, j), f64x2.mul(v128.load(p(ri, j)), v));
  for (; j <= i; j++) st(ri, j, ld(ri, j) * inv);
}

/** Rows i, i + 1 (i even) of L⁻¹ from the pair of terms k0 (even) on, exactly as the reference's paired rows. */
function inverseRowPairFrom(l: usize, x: usize, n: i32, i: i32, k0: i32): void {
  const ri = p(x, i * n);
  const ri1 = p(x, (i + 1) * n);
  const li = p(l, i * n);
  const li1 = p(l, (i + 1) * n);
  for (let k = k0; k + 1 < i; k += 2) {
    const r0 = p(x, k * n);
    const r1 = p(x, (k + 1) * n);
    const fa0 = ld(li, k);
    const fa1 = ld(li, k + 1);
    const fb0 = ld(li1, k);
    const fb1 = ld(li1, k + 1);
    axpy2(ri, r0, r1, fa0, fa1, k + 1);
    axpy2(ri1, r0, r1, fb0, fb1, k + 1);
    const x1 = ld(r1, k + 1);
    st(ri, k + 1, ld(ri, k + 1) - fa1 * x1);
    st(ri1, k + 1, ld(ri1, k + 1) - fb1 * x1);
  }
  finishInverseRow(l, x, n, i);
  axpy1(ri1, ri, ld(li1, i), i + 1);
  finishInverseRow(l, x, n, i + 1);
}

/**
 * Columns j < i0 of rows i0..i0+rows−1 of L⁻¹: every pair of terms (k, k + 1) with k + 1 < i0, in
 * increasing k, with 4×4 tiles of X held in registers across them. Pairs with k + 1 < j only
 * subtract exact zeros from the tile's column j (X is lower triangular) and are skipped; the few
 * zero terms the tile does take (columns past k + 1) leave every value's bits as they are, because
 * a running x − 0 is x, and x, which starts at +0 and is only ever reduced, is never −0.
 */
function inverseBlock(l: usize, x: usize, n: i32, i0: i32, rows: i32): void {
  // Each column strip of X is read from memory by the first group of four rows and from cache by the others.
  for (let jt = 0; jt < i0; jt += 4) for (let m = 0; m < rows; m += 4) inverseTile4(l, x, n, i0 + m, i0, jt);
}

/** The 4×4 tile at rows r..r+3, columns jt..jt+3 of X: terms of the pairs (k, k + 1), jt ≤ k, k + 1 < i0. */
function inverseTile4(l: usize, x: usize, n: i32, r: i32, i0: i32, jt: i32): void {
  const stride = <usize>n << 3;
  const x0 = p(x, r * n);
  const l0 = p(l, r * n);
  {
    const o = <usize>jt << 3;
    let a0 = v128.load(x0 + o);
    let c0 = v128.load(x0 + o, 16);
    let a1 = v128.load(x0 + stride + o);
    let c1 = v128.load(x0 + stride + o, 16);
    let a2 = v128.load(x0 + 2 * stride + o);
    let c2 = v128.load(x0 + 2 * stride + o, 16);
    let a3 = v128.load(x0 + 3 * stride + o);
    let c3 = v128.load(x0 + 3 * stride + o, 16);
    for (let k = jt; k + 1 < i0; k += 2) {
      const rk = p(x, k * n) + o;
      const y0 = v128.load(rk);
      const y1 = v128.load(rk, 16);
      const z0 = v128.load(rk + stride);
      const z1 = v128.load(rk + stride, 16);
      const lk = l0 + (<usize>k << 3);
      let f = v128.load64_splat(lk);
      let g = v128.load64_splat(lk, 8);
      a0 = f64x2.sub(a0, f64x2.add(f64x2.mul(f, y0), f64x2.mul(g, z0)));
      c0 = f64x2.sub(c0, f64x2.add(f64x2.mul(f, y1), f64x2.mul(g, z1)));
      f = v128.load64_splat(lk + stride);
      g = v128.load64_splat(lk + stride, 8);
      a1 = f64x2.sub(a1, f64x2.add(f64x2.mul(f, y0), f64x2.mul(g, z0)));
      c1 = f64x2.sub(c1, f64x2.add(f64x2.mul(f, y1), f64x2.mul(g, z1)));
      f = v128.load64_splat(lk + 2 * stride);
      g = v128.load64_splat(lk + 2 * stride, 8);
      a2 = f64x2.sub(a2, f64x2.add(f64x2.mul(f, y0), f64x2.mul(g, z0)));
      c2 = f64x2.sub(c2, f64x2.add(f64x2.mul(f, y1), f64x2.mul(g, z1)));
      f = v128.load64_splat(lk + 3 * stride);
      g = v128.load64_splat(lk + 3 * stride, 8);
      a3 = f64x2.sub(a3, f64x2.add(f64x2.mul(f, y0), f64x2.mul(g, z0)));
      c3 = f64x2.sub(c3, f64x2.add(f64x2.mul(f, y1), f64x2.mul(g, z1)));
    }
    v128.store(x0 + o, a0);
    v128.store(x0 + o, c0, 16);
    v128.store(x0 + stride + o, a1);
    v128.store(x0 + stride + o, c1, 16);
    v128.store(x0 + 2 * stride + o, a2);
    v128.store(x0 + 2 * stride + o, c2, 16);
    v128.store(x0 + 3 * stride + o, a3);
    v128.store(x0 + 3 * stride + o, c3, 16);
  }
}

/**
 * X = L⁻¹ for the lower-triangular L at `l` (upper triangle ignored) into `x`, which must be all
 * zeros. Rows go in pairs as in the reference (an odd last row takes its terms one at a time).
 */
export function lowerInverse(l: usize, x: usize, n: i32): void {
  const paired = n & ~1;
  let i0 = 0;
  while (i0 + 3 < paired) {
    const rows = i0 + BLOCK <= paired ? BLOCK : 4;
    inverseBlock(l, x, n, i0, rows);
    for (let r = 0; r < rows; r += 2) inverseRowPairFrom(l, x, n, i0 + r, i0);
    i0 += rows;
  }
  for (; i0 < paired; i0 += 2) inverseRowPairFrom(l, x, n, i0, 0);
  if (n & 1) {
    const i = n - 1;
    const ri = p(x, i * n);
    for (let k = 0; k < i; k++) axpy1(ri, p(x, k * n), ld(l, i * n + k), k + 1);
    finishInverseRow(l, x, n, i);
  }
}

/** Reverses `count` float64 values in place (JHJ of a row-major square matrix is its reversal). */
export function reverse(a: usize, count: i32): void {
  let i = 0;
  let j = count - 1;
  while (i < j) {
    const t = ld(a, i);
    st(a, i, ld(a, j));
    st(a, j, t);
    i++;
    j--;
  }
}

/**
 * The in-batch update after column i of a lazy batch: for every row r whose error e = err[r·count + i]
 * is not 0, w1[r·count + j] −= e·u[j] for j in (i, count). `u` points at U[col][i1].
 */
export function columnUpdate(w1: usize, err: usize, u: usize, rows: i32, count: i32, i: i32): void {
  const len = count - i - 1;
  const from = p(u, i + 1);
  for (let r = 0; r < rows; r++) {
    const e = ld(err, r * count + i);
    if (e != 0) axpy1(p(w1, r * count + i + 1), from, e, len);
  }
}

/** w[j] −= ((a0·u0[j] + a1·u1[j]) + a2·u2[j]) + a3·u3[j], for j in [j0, j1), one row. */
// @ts-ignore: decorator
@inline function rowTerms4(w: usize, u0: usize, stride: usize, a0: f64, a1: f64, a2: f64, a3: f64, j0: i32, j1: i32): void {
  const v0 = f64x2.splat(a0);
  const v1 = f64x2.splat(a1);
  const v2 = f64x2.splat(a2);
  const v3 = f64x2.splat(a3);
  let j = j0;
  for (; j + 1 < j1; j += 2) {
    const o = <usize>j << 3;
    const t = f64x2.add(f64x2.add(f64x2.add(f64x2.mul(v0, v128.load(u0 + o)), f64x2.mul(v1, v128.load(u0 + stride + o))), f64x2.mul(v2, v128.load(u0 + 2 * stride + o))), f64x2.mul(v3, v128.load(u0 + 3 * stride + o)));
    v128.store(w + o, f64x2.sub(v128.load(w + o), t));
  }
  for (; j < j1; j++) {
    const o = <usize>j << 3;
    store<f64>(w + o, load<f64>(w + o) - (a0 * load<f64>(u0 + o) + a1 * load<f64>(u0 + stride + o) + a2 * load<f64>(u0 + 2 * stride + o) + a3 * load<f64>(u0 + 3 * stride + o)));
  }
}

/** One row's columns [j0, j1) of the lazy update, term by term in the reference's order (groups of four, then single terms). */
function lazyRow(wr: usize, er: usize, u: usize, cols: i32, count: i32, i1: i32, j0: i32, j1: i32): void {
  const stride = <usize>cols << 3;
  let k = 0;
  for (; k + 3 < count; k += 4) rowTerms4(wr, p(u, (i1 + k) * cols), stride, ld(er, k), ld(er, k + 1), ld(er, k + 2), ld(er, k + 3), j0, j1);
  for (; k < count; k++) {
    const uk = p(u, (i1 + k) * cols);
    const e = ld(er, k);
    for (let j = j0; j < j1; j++) st(wr, j, ld(wr, j) - e * ld(uk, j));
  }
}

/** Columns of W per sweep: the panel of U a sweep reads (count × 256 float64, 256 KiB at count 128) stays in L2. */
const TILE: i32 = 256;

/**
 * W[:, i2:] −= Err · U[i1:i2, i2:] (W [rows, cols], Err [rows, i2 − i1], U [cols, cols]). Each
 * element takes its terms in groups of four, ((a0·u0 + a1·u1) + a2·u2) + a3·u3 subtracted at once,
 * then the remaining terms one by one, as the reference; a 4 rows × 4 columns tile of W stays in
 * registers for the whole batch.
 */
export function lazyUpdate(w: usize, err: usize, u: usize, rows: i32, cols: i32, i1: i32, i2: i32): void {
  const count = i2 - i1;
  const groups = count & ~3;
  const ws = <usize>cols << 3;
  const es = <usize>count << 3;
  for (let jc = i2; jc < cols; jc += TILE) {
    const jend = min(cols, jc + TILE);
    const jtiles = jc + ((jend - jc) & ~3);
    let r = 0;
    for (; r + 3 < rows; r += 4) {
      const w0 = p(w, r * cols);
      const e0 = p(err, r * count);
      for (let jt = jc; jt < jtiles; jt += 4) {
        const o = <usize>jt << 3;
        let a0 = v128.load(w0 + o);
        let c0 = v128.load(w0 + o, 16);
        let a1 = v128.load(w0 + ws + o);
        let c1 = v128.load(w0 + ws + o, 16);
        let a2 = v128.load(w0 + 2 * ws + o);
        let c2 = v128.load(w0 + 2 * ws + o, 16);
        let a3 = v128.load(w0 + 3 * ws + o);
        let c3 = v128.load(w0 + 3 * ws + o, 16);
        for (let k = 0; k < groups; k += 4) {
          const uk = p(u, (i1 + k) * cols) + o;
          const y0 = v128.load(uk);
          const y1 = v128.load(uk, 16);
          const z0 = v128.load(uk + ws);
          const z1 = v128.load(uk + ws, 16);
          const s0 = v128.load(uk + 2 * ws);
          const s1 = v128.load(uk + 2 * ws, 16);
          const t0 = v128.load(uk + 3 * ws);
          const t1 = v128.load(uk + 3 * ws, 16);
          const ek = e0 + (<usize>k << 3);
          let f0 = v128.load64_splat(ek);
          let f1 = v128.load64_splat(ek, 8);
          let f2 = v128.load64_splat(ek, 16);
          let f3 = v128.load64_splat(ek, 24);
          a0 = f64x2.sub(a0, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y0), f64x2.mul(f1, z0)), f64x2.mul(f2, s0)), f64x2.mul(f3, t0)));
          c0 = f64x2.sub(c0, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y1), f64x2.mul(f1, z1)), f64x2.mul(f2, s1)), f64x2.mul(f3, t1)));
          f0 = v128.load64_splat(ek + es);
          f1 = v128.load64_splat(ek + es, 8);
          f2 = v128.load64_splat(ek + es, 16);
          f3 = v128.load64_splat(ek + es, 24);
          a1 = f64x2.sub(a1, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y0), f64x2.mul(f1, z0)), f64x2.mul(f2, s0)), f64x2.mul(f3, t0)));
          c1 = f64x2.sub(c1, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y1), f64x2.mul(f1, z1)), f64x2.mul(f2, s1)), f64x2.mul(f3, t1)));
          f0 = v128.load64_splat(ek + 2 * es);
          f1 = v128.load64_splat(ek + 2 * es, 8);
          f2 = v128.load64_splat(ek + 2 * es, 16);
          f3 = v128.load64_splat(ek + 2 * es, 24);
          a2 = f64x2.sub(a2, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y0), f64x2.mul(f1, z0)), f64x2.mul(f2, s0)), f64x2.mul(f3, t0)));
          c2 = f64x2.sub(c2, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y1), f64x2.mul(f1, z1)), f64x2.mul(f2, s1)), f64x2.mul(f3, t1)));
          f0 = v128.load64_splat(ek + 3 * es);
          f1 = v128.load64_splat(ek + 3 * es, 8);
          f2 = v128.load64_splat(ek + 3 * es, 16);
          f3 = v128.load64_splat(ek + 3 * es, 24);
          a3 = f64x2.sub(a3, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y0), f64x2.mul(f1, z0)), f64x2.mul(f2, s0)), f64x2.mul(f3, t0)));
          c3 = f64x2.sub(c3, f64x2.add(f64x2.add(f64x2.add(f64x2.mul(f0, y1), f64x2.mul(f1, z1)), f64x2.mul(f2, s1)), f64x2.mul(f3, t1)));
        }
        v128.store(w0 + o, a0);
        v128.store(w0 + o, c0, 16);
        v128.store(w0 + ws + o, a1);
        v128.store(w0 + ws + o, c1, 16);
        v128.store(w0 + 2 * ws + o, a2);
        v128.store(w0 + 2 * ws + o, c2, 16);
        v128.store(w0 + 3 * ws + o, a3);
        v128.store(w0 + 3 * ws + o, c3, 16);
      }
      // The batch's single terms (count not a multiple of four), then the columns past the last whole tile.
      if (groups < count) {
        for (let q = 0; q < 4; q++) {
          const wr = w0 + <usize>q * ws;
          const er = e0 + <usize>q * es;
          for (let k = groups; k < count; k++) {
            const uk = p(u, (i1 + k) * cols);
            const e = ld(er, k);
            for (let j = jc; j < jtiles; j++) st(wr, j, ld(wr, j) - e * ld(uk, j));
          }
        }
      }
      if (jtiles < jend) for (let q = 0; q < 4; q++) lazyRow(w0 + <usize>q * ws, e0 + <usize>q * es, u, cols, count, i1, jtiles, jend);
    }
    for (; r < rows; r++) lazyRow(p(w, r * cols), p(err, r * count), u, cols, count, i1, jc, jend);
  }
}

/**
 * S[i][j] += Σ_{t<m} f[t][i]·x[t][j] for a 4×4 tile: S at `o` (rows `ss` bytes apart), x the
 * tile's four float32 columns at `xj` (rows `xs` bytes apart), f the tile's four rows' factors at
 * `f` (rows `fs` bytes apart), float32 or float64. Each element's panel sum starts at 0 and takes
 * its terms in t order; then it is added to S.
 */
// @ts-ignore: decorator
@inline function panelTile(o: usize, ss: usize, xj: usize, xs: usize, m: i32, f: usize, fs: usize, fIsF32: bool): void {
  let a0 = f64x2.splat(0);
  let c0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let c1 = f64x2.splat(0);
  let a2 = f64x2.splat(0);
  let c2 = f64x2.splat(0);
  let a3 = f64x2.splat(0);
  let c3 = f64x2.splat(0);
  for (let t = 0; t < m; t++) {
    const xv = v128.load(xj + <usize>t * xs);
    const lo = f64x2.promote_low_f32x4(xv);
    const hi = f64x2.promote_low_f32x4(i32x4.shuffle(xv, xv, 2, 3, 0, 1));
    const ft = f + <usize>t * fs;
    let v = f64x2.splat(fIsF32 ? <f64>load<f32>(ft) : load<f64>(ft));
    a0 = f64x2.add(a0, f64x2.mul(v, lo));
    c0 = f64x2.add(c0, f64x2.mul(v, hi));
    v = f64x2.splat(fIsF32 ? <f64>load<f32>(ft, 4) : load<f64>(ft, 8));
    a1 = f64x2.add(a1, f64x2.mul(v, lo));
    c1 = f64x2.add(c1, f64x2.mul(v, hi));
    v = f64x2.splat(fIsF32 ? <f64>load<f32>(ft, 8) : load<f64>(ft, 16));
    a2 = f64x2.add(a2, f64x2.mul(v, lo));
    c2 = f64x2.add(c2, f64x2.mul(v, hi));
    v = f64x2.splat(fIsF32 ? <f64>load<f32>(ft, 12) : load<f64>(ft, 24));
    a3 = f64x2.add(a3, f64x2.mul(v, lo));
    c3 = f64x2.add(c3, f64x2.mul(v, hi));
  }
  v128.store(o, f64x2.add(v128.load(o), a0));
  v128.store(o, f64x2.add(v128.load(o, 16), c0), 16);
  v128.store(o + ss, f64x2.add(v128.load(o + ss), a1));
  v128.store(o + ss, f64x2.add(v128.load(o + ss, 16), c1), 16);
  v128.store(o + 2 * ss, f64x2.add(v128.load(o + 2 * ss), a2));
  v128.store(o + 2 * ss, f64x2.add(v128.load(o + 2 * ss, 16), c2), 16);
  v128.store(o + 3 * ss, f64x2.add(v128.load(o + 3 * ss), a3));
  v128.store(o + 3 * ss, f64x2.add(v128.load(o + 3 * ss, 16), c3), 16);
}


/**
 * S[i][j] += Σ_t x[t][i]·x[t][j] for j ≥ i over one panel of m float32 rows x [m, cols], as
 * hessian-accumulator.ts: each element's panel sum starts at 0 and takes the rows in order (products
 * of float32 values are exact in float64), then is added to S once. A 4 × 4 tile of sums is held
 * in registers over the panel; tiles that cross the diagonal also fill a few entries below it,
 * which S never reads (only its upper triangle is kept).
 */
export function hessianPanel(s: usize, x: usize, m: i32, cols: i32): void {
  const xs = <usize>cols << 2;
  const ss = <usize>cols << 3;
  const full = cols & ~3;
  let i0 = 0;
  for (; i0 < full; i0 += 4) {
    const s0 = p(s, i0 * cols);
    for (let jt = i0; jt < full; jt += 4) panelTile(s0 + (<usize>jt << 3), ss, x + (<usize>jt << 2), xs, m, x + (<usize>i0 << 2), xs, true);
    for (let i = i0; i < i0 + 4; i++) hessianEntries(s, x, m, cols, i, full);
  }
  for (; i0 < cols; i0++) hessianEntries(s, x, m, cols, i0, i0);
}

/** S[i][j] for j in [from, cols), one element at a time. */
function hessianEntries(s: usize, x: usize, m: i32, cols: i32, i: i32, from: i32): void {
  const xs = <usize>cols << 2;
  for (let j = from; j < cols; j++) {
    let acc: f64 = 0;
    for (let t = 0; t < m; t++) {
      const row = x + <usize>t * xs;
      acc += <f64>load<f32>(row + (<usize>i << 2)) * <f64>load<f32>(row + (<usize>j << 2));
    }
    const at = p(s, i * cols + j);
    store<f64>(at, load<f64>(at) + acc);
  }
}

/**
 * The drift sums of drift-accumulator.ts, S[i][j] += Σ_{t<m} d[t][i]·x[t][j] (S [cols, cols]
 * float64, all of it; d [m, cols] float64, the float rows minus the quantized ones; x [m, cols]
 * float32, the quantized rows): each element's panel sum from 0 in row order, then added to S, as
 * the reference. Four channels i share each load of x; a block of four channels that did not
 * drift in these rows is skipped (the reference skips each such channel: adding its +0 sums changes
 * nothing, since neither a sum nor S is ever −0).
 */
export function driftPanel(s: usize, d: usize, x: usize, m: i32, cols: i32): void {
  const xs = <usize>cols << 2;
  const ds = <usize>cols << 3;
  const full = cols & ~3;
  let i0 = 0;
  for (; i0 < full; i0 += 4) {
    let any = false;
    for (let t = 0; t < m && !any; t++) {
      const dr = d + <usize>t * ds + (<usize>i0 << 3);
      any = v128.any_true(v128.or(v128.load(dr), v128.load(dr, 16)));
    }
    if (!any) continue;
    const s0 = p(s, i0 * cols);
    const ss = <usize>cols << 3;
    for (let jt = 0; jt < full; jt += 4) panelTile(s0 + (<usize>jt << 3), ss, x + (<usize>jt << 2), xs, m, d + (<usize>i0 << 3), ds, false);
    for (let i = i0; i < i0 + 4; i++) driftEntries(s, d, x, m, cols, i, full);
  }
  for (; i0 < cols; i0++) driftEntries(s, d, x, m, cols, i0, 0);
}

/** S[i][j] of driftPanel for j in [from, cols), one element at a time. */
function driftEntries(s: usize, d: usize, x: usize, m: i32, cols: i32, i: i32, from: i32): void {
  const xs = <usize>cols << 2;
  for (let j = from; j < cols; j++) {
    let acc: f64 = 0;
    for (let t = 0; t < m; t++) acc += ld(d, t * cols + i) * <f64>load<f32>(x + <usize>t * xs + (<usize>j << 2));
    const at = p(s, i * cols + j);
    store<f64>(at, load<f64>(at) + acc);
  }
}

/**
 * GPTAQ's target of quantize-weight-gptq.ts's addFloatTarget, in place: target[r] += share ·
 * ((W[r]·D)·Uᵀ)·U for every row r (target [rows, cols] float64, W [rows, cols] float32, D and U
 * [cols, cols] float64, U upper triangular; rows taken `block` at a time, with scratch `wd` of
 * 2 × block × cols float64 and `tt` of block × cols). Per element the terms and their order are the reference's: wd[j] = Σ_i W[r][i]·D[i][j] in
 * i order, t[i] = share · Σ_{j≥i} wd[j]·U[i][j] in j order, then target[r][j] += t[i]·U[i][j] in
 * i order for each t[i] ≠ 0. Lanes are columns j in the first and last sweep, a pair of rows in
 * the second (its partial sums are rows', never a reassociation).
 */
export function floatTarget(target: usize, w: usize, d: usize, u: usize, wd: usize, tt: usize, rows: i32, cols: i32, share: f64, block: i32): void {
  const cs = <usize>cols << 3;
  const quads = cols & ~3;
  for (let r0 = 0; r0 < rows; r0 += block) {
    const nr = min(block, rows - r0);
    memory.fill(wd, 0, <usize>block * cs);
    // wd[k][j] = Σ_i W[r0 + k][i]·D[i][j]: four terms per load and store of wd, each load of D's rows serving every row of the block.
    let i = 0;
    for (; i < quads; i += 4) {
      const d0 = p(d, i * cols);
      for (let k = 0; k < nr; k++) {
        const wr = w + ((<usize>(r0 + k) * <usize>cols + <usize>i) << 2);
        const a0 = <f64>load<f32>(wr);
        const a1 = <f64>load<f32>(wr, 4);
        const a2 = <f64>load<f32>(wr, 8);
        const a3 = <f64>load<f32>(wr, 12);
        addFourRows(wd + <usize>k * cs, d0, cs, a0, a1, a2, a3, 0, cols);
      }
    }
    for (; i < cols; i++) {
      const di = p(d, i * cols);
      for (let k = 0; k < nr; k++) {
        const a = <f64>load<f32>(w + ((<usize>(r0 + k) * <usize>cols + <usize>i) << 2));
        const wk = wd + <usize>k * cs;
        for (let j = 0; j < cols; j++) st(wk, j, ld(wk, j) + a * ld(di, j));
      }
    }
    // Rows k and k + 1 of wd interleaved, so that one load gives both rows' j-th values.
    const wp = wd + <usize>block * cs;
    for (let k = 0; k + 1 < nr; k += 2) {
      const wa = wd + <usize>k * cs;
      const pk = wp + <usize>k * cs;
      for (let j = 0; j < cols; j++) {
        store<f64>(pk + (<usize>j << 4), ld(wa, j));
        store<f64>(pk + (<usize>j << 4), ld(wa + cs, j), 8);
      }
    }
    // t[k][i] = share · Σ_{j≥i} wd[k][j]·U[i][j]: rows k and k + 1 in the lanes of one sum, the sums of i and i + 1 sharing each load of wd.
    i = 0;
    for (; i + 1 < cols; i += 2) {
      const u0 = p(u, i * cols);
      const u1 = u0 + cs;
      let k = 0;
      for (; k + 1 < nr; k += 2) {
        const pk = wp + <usize>k * cs;
        let acc0 = f64x2.mul(v128.load(pk + (<usize>i << 4)), f64x2.splat(ld(u0, i)));
        acc0 = f64x2.add(f64x2.splat(0), acc0);
        let acc1 = f64x2.splat(0);
        for (let j = i + 1; j < cols; j++) {
          const x = v128.load(pk + (<usize>j << 4));
          acc0 = f64x2.add(acc0, f64x2.mul(x, f64x2.splat(ld(u0, j))));
          acc1 = f64x2.add(acc1, f64x2.mul(x, f64x2.splat(ld(u1, j))));
        }
        st(tt, k * cols + i, share * f64x2.extract_lane(acc0, 0));
        st(tt, (k + 1) * cols + i, share * f64x2.extract_lane(acc0, 1));
        st(tt, k * cols + i + 1, share * f64x2.extract_lane(acc1, 0));
        st(tt, (k + 1) * cols + i + 1, share * f64x2.extract_lane(acc1, 1));
      }
      if (k < nr) {
        targetSum(wd + <usize>k * cs, u0, tt + <usize>k * cs, i, cols, share);
        targetSum(wd + <usize>k * cs, u1, tt + <usize>k * cs, i + 1, cols, share);
      }
    }
    if (i < cols) for (let k = 0; k < nr; k++) targetSum(wd + <usize>k * cs, p(u, i * cols), tt + <usize>k * cs, i, cols, share);
    // target[r0 + k][j] += t[k][i]·U[i][j] for j ≥ i, in i order, skipping t[k][i] = 0 as the reference: four terms per load and store where none is 0.
    i = 0;
    for (; i < quads; i += 4) {
      const u0 = p(u, i * cols);
      for (let k = 0; k < nr; k++) {
        const tk = p(tt, k * cols + i);
        const a0 = load<f64>(tk);
        const a1 = load<f64>(tk, 8);
        const a2 = load<f64>(tk, 16);
        const a3 = load<f64>(tk, 24);
        const tr = target + <usize>(r0 + k) * cs;
        if (a0 == 0 || a1 == 0 || a2 == 0 || a3 == 0) {
          for (let q = 0; q < 4; q++) targetTerm(tr, u0 + <usize>q * cs, ld(tk, q), i + q, cols);
          continue;
        }
        // Columns i .. i + 2 take only the terms whose row of U reaches them.
        st(tr, i, ld(tr, i) + a0 * ld(u0, i));
        st(tr, i + 1, (ld(tr, i + 1) + a0 * ld(u0, i + 1)) + a1 * ld(u0 + cs, i + 1));
        st(tr, i + 2, ((ld(tr, i + 2) + a0 * ld(u0, i + 2)) + a1 * ld(u0 + cs, i + 2)) + a2 * ld(u0 + 2 * cs, i + 2));
        addFourRows(tr, u0, cs, a0, a1, a2, a3, i + 3, cols);
      }
    }
    for (; i < cols; i++) {
      const ui = p(u, i * cols);
      for (let k = 0; k < nr; k++) targetTerm(target + <usize>(r0 + k) * cs, ui, ld(tt, k * cols + i), i, cols);
    }
  }
}

/**
 * dst[j] = (((dst[j] + a0·m[j]) + a1·m[j + n]) + a2·m[j + 2n]) + a3·m[j + 3n] for j in [from, cols),
 * the four terms in one load and store of dst (m's four consecutive rows of n = cols values, `rs`
 * bytes apart), two columns a step.
 */
// @ts-ignore: decorator
@inline function addFourRows(dst: usize, m: usize, rs: usize, a0: f64, a1: f64, a2: f64, a3: f64, from: i32, cols: i32): void {
  const v0 = f64x2.splat(a0);
  const v1 = f64x2.splat(a1);
  const v2 = f64x2.splat(a2);
  const v3 = f64x2.splat(a3);
  let j = from;
  for (; j + 1 < cols; j += 2) {
    const o = dst + (<usize>j << 3);
    const mj = m + (<usize>j << 3);
    let acc = v128.load(o);
    acc = f64x2.add(acc, f64x2.mul(v0, v128.load(mj)));
    acc = f64x2.add(acc, f64x2.mul(v1, v128.load(mj + rs)));
    acc = f64x2.add(acc, f64x2.mul(v2, v128.load(mj + 2 * rs)));
    acc = f64x2.add(acc, f64x2.mul(v3, v128.load(mj + 3 * rs)));
    v128.store(o, acc);
  }
  if (j < cols) {
    const mj = m + (<usize>j << 3);
    st(dst, j, (((ld(dst, j) + a0 * load<f64>(mj)) + a1 * load<f64>(mj + rs)) + a2 * load<f64>(mj + 2 * rs)) + a3 * load<f64>(mj + 3 * rs));
  }
}

/** t[i] = share · Σ_{j≥i} wd[j]·U[i][j] of one row, in j order (`ui` is U's row i). */
function targetSum(wd: usize, ui: usize, t: usize, i: i32, cols: i32, share: f64): void {
  let acc: f64 = 0;
  for (let j = i; j < cols; j++) acc += ld(wd, j) * ld(ui, j);
  st(t, i, share * acc);
}

/** target[j] += a·U[i][j] for j ≥ i unless a = 0 (`ui` is U's row i). */
function targetTerm(tr: usize, ui: usize, a: f64, i: i32, cols: i32): void {
  if (a == 0) return;
  const av = f64x2.splat(a);
  let j = i;
  for (; j + 1 < cols; j += 2) {
    const o = tr + (<usize>j << 3);
    v128.store(o, f64x2.add(v128.load(o), f64x2.mul(av, v128.load(ui + (<usize>j << 3)))));
  }
  if (j < cols) st(tr, j, ld(tr, j) + a * ld(ui, j));
}
