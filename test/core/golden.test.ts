// Golden vectors from scripts/gen-golden.py (an independent numpy reference of PyTorch's
// MinMaxObserver and ONNX's QuantizeLinear / DequantizeLinear): every value must match bit for bit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Granularity, Kernels, QParams, QuantDtypeName } from '../../src/core/index.js';
import { computeQParams, dequantize, fakeQuantize, getKernels, getQuantDtype, quantize, quantRange, referenceKernels } from '../../src/core/index.js';

interface GoldenCase {
  name: string;
  dtype: QuantDtypeName;
  symmetric: boolean;
  narrow: boolean;
  allowInf: boolean;
  givenParams: boolean;
  granularity: Granularity;
  shape: number[];
  x: number[];
  paramShape: number[];
  scale: number[];
  zeroPoint: number[];
  codes: number[];
  dequantized: number[];
}

const golden = JSON.parse(readFileSync(new URL('../fixtures/golden/affine.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] };

const fromBits = (b: number[]): Float32Array => new Float32Array(Uint32Array.from(b).buffer);
const toBits = (f: Float32Array): number[] => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));

const kernelSets: Kernels[] = [...new Set([getKernels(), referenceKernels])];

describe('golden vectors (numpy reference)', () => {
  it('covers every dtype, granularity and the tricky inputs', () => {
    const dtypes = new Set(golden.cases.map((c) => c.dtype));
    expect(dtypes.size).toBe(30);
    const kinds = new Set(golden.cases.map((c) => c.granularity.kind));
    expect([...kinds].sort()).toEqual(['per-axis', 'per-block', 'per-tensor']);
    expect(golden.cases.length).toBeGreaterThan(150);
  });

  for (const kernels of kernelSets) {
    describe(`${kernels.name} kernels`, () => {
      it.each(golden.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
        const x = fromBits(c.x);
        const scheme = { dtype: c.dtype, symmetric: c.symmetric, narrow: c.narrow, granularity: c.granularity, allowInf: c.allowInf, kernels };
        let params: QParams;
        if (c.givenParams) {
          params = {
            dtype: c.dtype,
            symmetric: c.symmetric,
            narrow: c.narrow,
            ...quantRange(getQuantDtype(c.dtype), c.narrow),
            granularity: c.granularity,
            paramShape: c.paramShape,
            scale: fromBits(c.scale),
            zeroPoint: Int32Array.from(c.zeroPoint),
          };
        } else {
          params = computeQParams(x, c.shape, scheme);
          expect(params.paramShape).toEqual(c.paramShape);
          expect(toBits(params.scale)).toEqual(c.scale);
          expect(Array.from(params.zeroPoint)).toEqual(c.zeroPoint);
        }

        const q = c.givenParams ? quantize(x, c.shape, { params, allowInf: c.allowInf, kernels }) : quantize(x, c.shape, scheme);
        expect(Array.from(q.codes)).toEqual(c.codes);
        if (!c.givenParams) expect(toBits(q.params.scale)).toEqual(c.scale);

        const deq = dequantize(q.codes, c.shape, params, { kernels });
        expect(toBits(deq)).toEqual(c.dequantized);

        const fake = c.givenParams ? fakeQuantize(x, c.shape, { params, allowInf: c.allowInf, kernels }) : fakeQuantize(x, c.shape, scheme);
        expect(toBits(fake.values)).toEqual(c.dequantized);
      });
    });
  }
});
