import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Granularity } from '../../src/core/layout.js';
import { quantize } from '../../src/core/quantize.js';
import { referenceKernels } from '../../src/core/kernels/reference.js';
import type { QuantDtypeName } from '../../src/core/dtypes.js';
import { encodeNpy, toFloat32 } from '../../src/formats/npy.js';
import { float32ToFloat16Bits } from '../../src/core/float16.js';
import { assertBuilt, besidesSummary, FIXTURES, readJson, readNpy, runCli, sampleData, tempDir, writeNpy } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI as a child process, several times per test.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const shape = [4, 6, 5];
const x = sampleData(4 * 6 * 5);
const t = tempDir();
let input: string;

beforeAll(() => {
  assertBuilt();
  input = writeNpy(t.path('x.npy'), { dtype: 'float32', shape, data: x });
});
afterAll(() => t.cleanup());

const CASES: { name: string; args: string[]; dtype: QuantDtypeName; symmetric?: boolean; narrow?: boolean; granularity: Granularity; npy: string }[] = [
  { name: 'per-tensor uint8', args: ['--dtype', 'uint8'], dtype: 'uint8', granularity: { kind: 'per-tensor' }, npy: 'uint8' },
  { name: 'per-channel int8 symmetric narrow, axis 0', args: ['--dtype', 'int8', '--symmetric', '--narrow', '--axis', '0'], dtype: 'int8', symmetric: true, narrow: true, granularity: { kind: 'per-axis', axis: 0 }, npy: 'int8' },
  { name: 'per-channel uint8 on the last axis (negative)', args: ['--dtype', 'uint8', '--axis', '-1'], dtype: 'uint8', granularity: { kind: 'per-axis', axis: -1 }, npy: 'uint8' },
  { name: 'per-block int4, block 4 on the default axis -1 (short last block)', args: ['--dtype', 'int4', '--block-size', '4'], dtype: 'int4', granularity: { kind: 'per-block', axis: -1, blockSize: 4 }, npy: 'int8' },
  { name: 'per-block uint4 along axis 1', args: ['--dtype', 'uint4', '--axis', '1', '--block-size', '4'], dtype: 'uint4', granularity: { kind: 'per-block', axis: 1, blockSize: 4 }, npy: 'uint8' },
  { name: 'int12 is stored as int16', args: ['--dtype', 'int12', '--symmetric'], dtype: 'int12', symmetric: true, granularity: { kind: 'per-tensor' }, npy: 'int16' },
  { name: 'uint16 symmetric', args: ['--dtype', 'uint16', '--symmetric', '--axis', '1'], dtype: 'uint16', symmetric: true, granularity: { kind: 'per-axis', axis: 1 }, npy: 'uint16' },
];

describe('quantkit quantize', () => {
  for (const c of CASES) {
    it(`${c.name}: codes equal the library's, in the input's shape`, () => {
      const out = t.path(`${c.dtype}-${c.name.length}.npy`);
      const r = runCli(['quantize', input, '-o', out, ...c.args]);
      expect(besidesSummary(r.stderr)).toBe('');
      expect(r.code).toBe(0);
      const got = readNpy(out);
      const want = quantize(x, shape, { dtype: c.dtype, symmetric: c.symmetric, narrow: c.narrow, granularity: c.granularity });
      expect(got.dtype).toBe(c.npy);
      expect(got.shape).toEqual(shape);
      expect(Array.from(got.data as ArrayLike<number>)).toEqual(Array.from(want.codes));
    });
  }

  it('a successful run says what it did in one line on stderr (shape, dtype, scheme, scales, time); --quiet silences it', () => {
    const out = t.path('summary.npy');
    const r = runCli(['quantize', input, '-o', out, '--dtype', 'int8', '--symmetric', '--axis', '0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const p = quantize(x, shape, { dtype: 'int8', symmetric: true, granularity: { kind: 'per-axis', axis: 0 } }).params;
    const lo = Math.min(...p.scale);
    const hi = Math.max(...p.scale);
    const sig = (v: number) => String(Number(v.toPrecision(6)));
    expect(r.stderr).toBe(`quantkit: ${input} [4, 6, 5] float32 -> ${out} int8 symmetric per-channel (axis 0, 4 scales): scale ${sig(lo)}..${sig(hi)}, zero point 0, in ${/in (\d+\.\d\d) s\n$/.exec(r.stderr)?.[1]} s\n`);
    expect(r.stderr).toMatch(/, in \d+\.\d\d s\n$/);

    const quiet = runCli(['quantize', input, '-o', out, '--dtype', 'int8', '--quiet']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  it('writes the parameters file the issue defines, and --params reproduces the codes', () => {
    const out = t.path('pb.npy');
    const params = t.path('pb.json');
    expect(runCli(['quantize', input, '-o', out, '--dtype', 'int8', '--axis', '1', '--block-size', '4', '--params-out', params]).code).toBe(0);
    const json = readJson(params);
    const want = quantize(x, shape, { dtype: 'int8', granularity: { kind: 'per-block', axis: 1, blockSize: 4 } }).params;
    expect(json).toMatchObject({
      format: 'quantkit.params',
      version: 1,
      dtype: 'int8',
      bits: 8,
      signed: true,
      symmetric: false,
      narrow: false,
      granularity: 'per_block',
      axis: 1,
      block_size: 4,
      qmin: -128,
      qmax: 127,
      param_shape: [4, 2, 5],
    });
    expect(json.scale).toEqual(Array.from(want.scale));
    expect(json.zero_point).toEqual(Array.from(want.zeroPoint));
    expect(json).not.toHaveProperty('packed');

    // Other data, same parameters: codes are the library's with those parameters.
    const y = sampleData(x.length, 7).map((v) => v * 0.5);
    const other = writeNpy(t.path('y.npy'), { dtype: 'float32', shape, data: y });
    const out2 = t.path('y.q.npy');
    const r = runCli(['quantize', other, '-o', out2, '--params', params]);
    expect(besidesSummary(r.stderr)).toBe('');
    expect(Array.from(readNpy(out2).data as Int8Array)).toEqual(Array.from(quantize(y, shape, { params: want }).codes));
    // And the original input gives back the very same codes.
    const out3 = t.path('again.npy');
    expect(runCli(['quantize', input, '-o', out3, '--params', params]).code).toBe(0);
    expect(readNpy(out3).data).toEqual(readNpy(out).data);
  });

  it('--pack writes int4 codes as a flat uint8 array, low nibble first, and records the shape', () => {
    const out = t.path('packed.npy');
    const params = t.path('packed.json');
    const r = runCli(['quantize', input, '-o', out, '--dtype', 'int4', '--symmetric', '--pack', '--params-out', params]);
    expect(besidesSummary(r.stderr)).toBe('');
    const got = readNpy(out);
    const codes = quantize(x, shape, { dtype: 'int4', symmetric: true }).codes as Int8Array;
    const packed = new Uint8Array(Math.ceil(codes.length / 2));
    referenceKernels.pack(codes, 4, packed);
    expect(got.dtype).toBe('uint8');
    expect(got.shape).toEqual([60]);
    expect(got.data).toEqual(packed);
    expect(got.data[0]).toBe((codes[0] & 15) | ((codes[1] & 15) << 4));
    expect(readJson(params)).toMatchObject({ packed: true, tensor_shape: shape, dtype: 'int4' });
  });

  it('--pack of uint2 packs four codes per byte, padding the last byte with zeros', () => {
    const odd = writeNpy(t.path('odd.npy'), { dtype: 'float32', shape: [7], data: sampleData(7, 3) });
    const out = t.path('odd.q.npy');
    expect(runCli(['quantize', odd, '-o', out, '--dtype', 'uint2', '--pack']).code).toBe(0);
    const codes = quantize(sampleData(7, 3), [7], { dtype: 'uint2' }).codes as Uint8Array;
    const want = new Uint8Array(2);
    referenceKernels.pack(codes, 2, want);
    expect(readNpy(out)).toMatchObject({ dtype: 'uint8', shape: [2] });
    expect(readNpy(out).data).toEqual(want);
  });

  it('stochastic rounding with a seed gives the library\'s codes for that seed', () => {
    const a = t.path('s1.npy');
    const b = t.path('s2.npy');
    expect(runCli(['quantize', input, '-o', a, '--dtype', 'uint8', '--rounding', 'stochastic', '--seed', '42']).code).toBe(0);
    expect(runCli(['quantize', input, '-o', b, '--dtype', 'uint8', '--rounding', 'stochastic', '--seed', '43']).code).toBe(0);
    const want = quantize(x, shape, { dtype: 'uint8', rounding: 'stochastic', seed: 42 }).codes;
    expect(Array.from(readNpy(a).data as Uint8Array)).toEqual(Array.from(want));
    expect(readNpy(b).data).not.toEqual(readNpy(a).data);
  });

  it('--allow-inf saturates infinities instead of failing', () => {
    const data = new Float32Array([1, -Infinity, 0.5, Infinity, -2]);
    const f = writeNpy(t.path('inf.npy'), { dtype: 'float32', shape: [5], data });
    const out = t.path('inf.q.npy');
    const r = runCli(['quantize', f, '-o', out, '--dtype', 'int8', '--allow-inf']);
    expect(besidesSummary(r.stderr)).toBe('');
    expect(Array.from(readNpy(out).data as Int8Array)).toEqual(Array.from(quantize(data, [5], { dtype: 'int8', allowInf: true }).codes));
    expect(readNpy(out).data[1]).toBe(-128);
    expect(readNpy(out).data[3]).toBe(127);
  });

  it('reads numpy-written integer files, either byte order, C and Fortran order', () => {
    const names = readdirSync(FIXTURES).filter((f) => /^(int16|uint16|int64)-(le|be)-[CF]-2x3x4\.npy$/.test(f));
    expect(names.length).toBe(12);
    for (const name of names) {
      const src = join(FIXTURES, name);
      const out = t.path(`q-${name}`);
      const r = runCli(['quantize', src, '-o', out, '--dtype', 'int8', '--axis', '1']);
      expect(besidesSummary(r.stderr), name).toBe('');
      const want = quantize(toFloat32(readNpy(src), new Float32Array(24)), [2, 3, 4], { dtype: 'int8', granularity: { kind: 'per-axis', axis: 1 } }).codes;
      expect(Array.from(readNpy(out).data as Int8Array), name).toEqual(Array.from(want));
    }
  });

  it('numpy float fixtures hold NaN: the error names the file and its first index in C order ([i, j, k] and flat), whatever the layout on disk', () => {
    const names = readdirSync(FIXTURES).filter((f) => /^(float16-be-F|float32-le-C|float32-be-F|float64-be-C|float64-le-F)-2x3x4\.npy$/.test(f));
    expect(names.length).toBe(5);
    for (const name of names) {
      const x32 = toFloat32(readNpy(join(FIXTURES, name)), new Float32Array(24));
      const first = x32.findIndex((v) => Number.isNaN(v));
      const out = t.path(`nan-${name}`);
      const r = runCli(['quantize', join(FIXTURES, name), '-o', out, '--dtype', 'uint8']);
      expect(r.code, name).toBe(1);
      const at = [Math.floor(first / 12), Math.floor(first / 4) % 3, first % 4];
      expect(r.stderr, name).toBe(`quantkit: ${join(FIXTURES, name)}[${at.join(', ')}] is NaN (flat index ${first})\n`);
    }
  });

  it('converts float64 and float16, big-endian and Fortran-order input before quantizing', () => {
    const cases = [
      { dtype: 'float64' as const, data: Float64Array.from(x, (v) => v * 1.0000001), opts: { littleEndian: false } },
      { dtype: 'float16' as const, data: float32ToFloat16Bits(x), opts: { littleEndian: false } },
      { dtype: 'float32' as const, data: x, opts: { fortranOrder: true } },
    ];
    for (const c of cases) {
      const f = t.path(`conv-${c.dtype}.npy`);
      writeFileSync(f, encodeNpy({ dtype: c.dtype, shape, data: c.data }, c.opts));
      const out = t.path(`conv-${c.dtype}.q.npy`);
      const r = runCli(['quantize', f, '-o', out, '--dtype', 'int8', '--axis', '2']);
      expect(besidesSummary(r.stderr), c.dtype).toBe('');
      const x32 = toFloat32({ dtype: c.dtype, shape, data: c.data }, new Float32Array(x.length));
      const want = quantize(x32, shape, { dtype: 'int8', granularity: { kind: 'per-axis', axis: 2 } }).codes;
      expect(Array.from(readNpy(out).data as Int8Array), c.dtype).toEqual(Array.from(want));
    }
  });
});
