// Helpers the benchmark scripts share (not a benchmark: bench/run.mjs runs only *.bench.mjs).

/** Seeded standard normal float32 data (Box–Muller over a xorshift generator). */
export function normal(n, seed = 1) {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    x[i] = r * Math.cos(t);
    if (i + 1 < n) x[i + 1] = r * Math.sin(t);
  }
  return x;
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values) {
  const s = [...values].sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median milliseconds of `runs` calls of fn, after `warm` untimed calls (V8 optimises a function once it has run) and a GC where exposed. */
export function timeMedian(fn, runs, warm = 2) {
  for (let i = 0; i < warm; i++) fn();
  globalThis.gc?.();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}
