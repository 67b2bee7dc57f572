import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeQkxQuants, makeQxQuants } from './k-quant-search.js';
import { makeQkxQuantsWasm, makeQxQuantsWasm } from './k-quant-search-wasm.js';

const f = Math.fround;
// The (n, nmax, rmin, rdelta, nstep, useMad) every caller in ggml-quants.c passes.
const CALLS = [
  [16, 3, f(-0.5), f(0.1), 15, true],
  [16, 3, f(-0.9), f(0.05), 36, false],
  [32, 15, -1, f(0.1), 20, false],
  [32, 31, f(-0.5), f(0.1), 15, false],
  [32, 15, f(-0.9), f(0.05), 36, false],
  [32, 31, f(-0.9), f(0.05), 36, false],
] as const;

const value = fc.oneof(
  fc.float({ min: -4, max: 4, noNaN: true }),
  fc.float({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, 0.5, -0.5, 1e-40, 3),
);

describe('makeQxQuants in WebAssembly', () => {
  it('gives the TypeScript reference’s scale and levels bit for bit, weighted or not', () => {
    fc.assert(
      fc.property(
        fc.constantFrom([16, 4], [16, 32], [32, 8], [32, 16]),
        fc.array(value, { minLength: 32, maxLength: 32 }),
        fc.option(fc.array(fc.float({ min: 0, max: 100, noNaN: true }), { minLength: 40, maxLength: 40 })),
        fc.nat(4),
        ([n, nmax], xs, ws, offset) => {
          const x = new Float32Array(offset + 32);
          x.set(xs, offset);
          const qw = ws ? Float32Array.from(ws) : null;
          const run = (fn: typeof makeQxQuants) => {
            const L = new Int8Array(40);
            const scale = fn(n, nmax, x, offset, L, 5, qw, 7);
            return { scale: Object.is(scale, -0) ? 'neg0' : scale, L: Array.from(L) };
          };
          expect(run(makeQxQuantsWasm)).toEqual(run(makeQxQuants));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('makeQkxQuants in WebAssembly', () => {
  it('gives the TypeScript reference’s scale, min and levels bit for bit', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CALLS),
        fc.array(value, { minLength: 32, maxLength: 32 }),
        fc.array(fc.float({ min: 0, max: 100, noNaN: true }), { minLength: 32, maxLength: 32 }),
        fc.nat(4),
        ([n, nmax, rmin, rdelta, nstep, useMad], xs, ws, offset) => {
          const x = new Float32Array(offset + 32);
          x.set(xs, offset);
          const w = Float32Array.from(ws);
          const run = (fn: typeof makeQkxQuants) => {
            const L = new Uint8Array(40);
            const min = new Float32Array(2);
            const scale = fn(n, nmax, x, offset, w, L, 3, min, 1, new Uint8Array(32), rmin, rdelta, nstep, useMad);
            return { scale: Object.is(scale, -0) ? 'neg0' : scale, min: min[1], L: Array.from(L) };
          };
          expect(run(makeQkxQuantsWasm)).toEqual(run(makeQkxQuants));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
