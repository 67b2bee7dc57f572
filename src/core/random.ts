/**
 * A small seeded generator (xoshiro128**, seeded through splitmix32): core code never uses
 * unseeded randomness, so every stochastic result is reproducible from its seed.
 */
export type Rng = () => number;

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

/** Returns a generator of uniform numbers in [0, 1) with 32 random bits each. */
export function createRng(seed: number): Rng {
  let st = seed | 0;
  const s = new Uint32Array(4);
  for (let k = 0; k < 4; k++) [st, s[k]] = splitmix32(st);
  return () => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * mulberry32: a smaller seeded generator of numbers in [0, 1). Calibration draws its sample rows
 * with it (layer-stats.ts), so the measured low-bit figures depend on its exact stream: it is kept
 * beside createRng rather than replaced by it.
 */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
