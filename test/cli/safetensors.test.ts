import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { float32ToBfloat16Bits } from '../../src/core/bfloat16.js';
import { float32ToFloat16Bits } from '../../src/core/float16.js';
import { errorMeasures } from '../../src/core/error-measures.js';
import { getKernels } from '../../src/core/kernels/index.js';
import { dequantize, fakeQuantize, quantize } from '../../src/core/quantize.js';
import { decodeQuantizedEntry, entryKey, FORMAT_KEY, QUANTKIT_SAFETENSORS_FORMAT } from '../../src/formats/quantized-safetensors.js';
import type { SafetensorsDtype } from '../../src/formats/safetensors.js';
import { decodeSafetensors, encodeSafetensors, floatTensorToFloat32 } from '../../src/formats/safetensors.js';
import { assertBuilt, runCli, sampleData, tempDir } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI as a child process, several times per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const t = tempDir();
let model: string;

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const W = sampleData(24 * 40, 3); // a [24, 40] weight
const E = sampleData(10 * 16, 4); // a [10, 16] embedding, stored as bfloat16
const H = sampleData(6 * 8, 5); // a [6, 8] kernel, stored as float16
const BIAS = sampleData(24, 6);
const STEP = new BigInt64Array([42n]);

/** What the file holds once read back as float32 (the library is fed exactly these values). */
const bf16 = (x: Float32Array) => floatTensorToFloat32('BF16', bytes(float32ToBfloat16Bits(x)));
const f16 = (x: Float32Array) => floatTensorToFloat32('F16', bytes(float32ToFloat16Bits(x)));

function read(path: string) {
  const file = decodeSafetensors(new Uint8Array(readFileSync(path)));
  const info = (name: string) => file.header.tensors.find((x) => x.name === name)!;
  return {
    header: file.header,
    names: file.header.tensors.map((x) => x.name).sort(),
    info,
    raw: (name: string) => file.tensorBytes(name),
    floats: (name: string) => floatTensorToFloat32(info(name).dtype, file.tensorBytes(name)),
    typed: <T>(name: string, C: new (b: ArrayBuffer) => T) => new C(file.tensorBytes(name).slice().buffer),
  };
}

beforeAll(() => {
  assertBuilt();
  model = t.path('model.safetensors');
  const tensors: { name: string; dtype: SafetensorsDtype; shape: number[]; data: Uint8Array }[] = [
    { name: 'layers.0.weight', dtype: 'F32', shape: [24, 40], data: bytes(W) },
    { name: 'layers.0.bias', dtype: 'F32', shape: [24], data: bytes(BIAS) },
    { name: 'embed.weight', dtype: 'BF16', shape: [10, 16], data: bytes(float32ToBfloat16Bits(E)) },
    { name: 'conv.kernel', dtype: 'F16', shape: [6, 8], data: bytes(float32ToFloat16Bits(H)) },
    { name: 'step', dtype: 'I64', shape: [1], data: bytes(STEP) },
  ];
  writeFileSync(model, encodeSafetensors(tensors, { format: 'pt' }));
});
afterAll(() => t.cleanup());

describe('quantkit quantize on .safetensors', () => {
  it("quantizes every float tensor of rank >= 2 as the library does; scales, zero points and the scheme travel in the file; the rest is copied", () => {
    const out = t.path('q.safetensors');
    const r = runCli(['quantize', model, '-o', out, '--dtype', 'int8', '--symmetric', '--axis', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^quantized 3 tensor\(s\) to int8 per channel \(axis 0\), kept 2 unchanged: /);
    const q = read(out);
    expect(q.names).toEqual(['conv.kernel', 'conv.kernel.scale', 'conv.kernel.zero_point', 'embed.weight', 'embed.weight.scale', 'embed.weight.zero_point', 'layers.0.bias', 'layers.0.weight', 'layers.0.weight.scale', 'layers.0.weight.zero_point', 'step']);
    expect(q.header.metadata.format).toBe('pt');
    expect(q.header.metadata[FORMAT_KEY]).toBe(QUANTKIT_SAFETENSORS_FORMAT);
    const granularity = { kind: 'per-axis', axis: 0 } as const;
    for (const [name, x, shape, source] of [['layers.0.weight', W, [24, 40], 'F32'], ['embed.weight', bf16(E), [10, 16], 'BF16'], ['conv.kernel', f16(H), [6, 8], 'F16']] as const) {
      const want = quantize(x, shape, { dtype: 'int8', symmetric: true, granularity });
      expect(q.info(name)).toMatchObject({ dtype: 'I8', shape });
      expect(q.raw(name)).toEqual(bytes(want.codes));
      expect(q.info(`${name}.scale`)).toMatchObject({ dtype: 'F32', shape: [shape[0]] });
      const scale = q.typed(`${name}.scale`, Float32Array);
      const zeroPoint = q.typed(`${name}.zero_point`, Int32Array);
      const entry = decodeQuantizedEntry(name, q.header.metadata[entryKey(name)]!, scale, zeroPoint);
      expect(entry.sourceDtype).toBe(source);
      expect(entry.params).toEqual(want.params);
    }
    expect(q.raw('layers.0.bias')).toEqual(bytes(BIAS));
    expect(q.raw('step')).toEqual(bytes(STEP));
  });

  it('--include / --exclude choose tensors by name; --pack packs int4 codes; dequantize restores each tensor in its own float type', () => {
    const out = t.path('q4.safetensors');
    const r = runCli(['quantize', model, '-o', out, '--dtype', 'int4', '--block-size', '8', '--pack', '--include', 'weight|bias', '--exclude', '^embed']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^quantized 2 tensor\(s\) to int4 per block of 8 \(axis -1\), kept 3 unchanged/);
    const q = read(out);
    expect(q.names).toEqual(['conv.kernel', 'embed.weight', 'layers.0.bias', 'layers.0.bias.scale', 'layers.0.bias.zero_point', 'layers.0.weight', 'layers.0.weight.scale', 'layers.0.weight.zero_point', 'step']);
    const granularity = { kind: 'per-block', axis: -1, blockSize: 8 } as const;
    const w = quantize(W, [24, 40], { dtype: 'int4', granularity });
    const packed = new Uint8Array(480);
    getKernels().pack(w.codes as Int8Array, 4, packed);
    expect(q.info('layers.0.weight')).toMatchObject({ dtype: 'U8', shape: [480] });
    expect(q.raw('layers.0.weight')).toEqual(packed);
    expect(q.info('layers.0.weight.scale').shape).toEqual([24, 5]);

    const back = t.path('dq.safetensors');
    const d = runCli(['dequantize', out, '-o', back]);
    expect(d.stderr).toBe('');
    expect(d.stdout).toMatch(/^restored 2 tensor\(s\), kept 3 unchanged/);
    const b = read(back);
    expect(b.names).toEqual(['conv.kernel', 'embed.weight', 'layers.0.bias', 'layers.0.weight', 'step']);
    expect(b.header.metadata).toEqual({ format: 'pt' });
    expect(b.info('layers.0.weight')).toMatchObject({ dtype: 'F32', shape: [24, 40] });
    expect(b.floats('layers.0.weight')).toEqual(dequantize(w.codes, [24, 40], w.params));
    const bias = quantize(BIAS, [24], { dtype: 'int4', granularity });
    expect(b.floats('layers.0.bias')).toEqual(dequantize(bias.codes, [24], bias.params));
    expect(b.raw('embed.weight')).toEqual(read(model).raw('embed.weight'));
    expect(b.raw('step')).toEqual(bytes(STEP));
  });

  it('dequantize --out-dtype F32 restores a bfloat16 tensor as float32; by default it is bfloat16 again', () => {
    const out = t.path('qe.safetensors');
    expect(runCli(['quantize', model, '-o', out, '--dtype', 'uint8', '--include', '^embed']).code).toBe(0);
    const want = quantize(bf16(E), [10, 16], { dtype: 'uint8' });
    const values = dequantize(want.codes, [10, 16], want.params);
    const f32 = t.path('e32.safetensors');
    expect(runCli(['dequantize', out, '-o', f32, '--out-dtype', 'F32']).code).toBe(0);
    expect(read(f32).info('embed.weight').dtype).toBe('F32');
    expect(read(f32).floats('embed.weight')).toEqual(values);
    const src = t.path('e16.safetensors');
    expect(runCli(['dequantize', out, '-o', src]).code).toBe(0);
    expect(read(src).info('embed.weight').dtype).toBe('BF16');
    expect(read(src).raw('embed.weight')).toEqual(bytes(float32ToBfloat16Bits(values)));
  });
});

describe('quantkit fake-quant on .safetensors', () => {
  it('writes the chosen tensors fake-quantized in their own float type, everything else and the metadata unchanged', () => {
    const out = t.path('fq.safetensors');
    const r = runCli(['fake-quant', model, '-o', out, '--dtype', 'int8', '--axis', '0', '--observer', 'percentile', '--percentile', '99']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^fake-quantized 3 tensor\(s\) to int8 per channel \(axis 0\), kept 2 unchanged/);
    const q = read(out);
    const m = read(model);
    expect(q.names).toEqual(m.names);
    expect(q.header.metadata).toEqual({ format: 'pt' });
    const w = fakeQuantize(W, [24, 40], { dtype: 'int8', granularity: { kind: 'per-axis', axis: 0 } });
    expect(q.info('layers.0.weight').dtype).toBe('F32');
    // The percentile observer clips where min/max would not, so the values differ from a min/max fake-quant.
    expect(q.floats('layers.0.weight')).not.toEqual(w.values);
    expect(q.info('conv.kernel').dtype).toBe('F16');
    expect(q.raw('layers.0.bias')).toEqual(m.raw('layers.0.bias'));
    expect(q.raw('step')).toEqual(m.raw('step'));
  });
});

describe('quantkit inspect on .safetensors', () => {
  it('lists every tensor, with the range and the SQNR of int8 per channel and int4 in blocks of 32 for the float ones', () => {
    const r = runCli(['inspect', model, '--json']);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as { tensors: { name: string; dtype: string; min?: number; max?: number; sqnr_db?: Record<string, number> }[] };
    expect(j.tensors.map((x) => [x.name, x.dtype])).toEqual([['layers.0.weight', 'F32'], ['layers.0.bias', 'F32'], ['embed.weight', 'BF16'], ['conv.kernel', 'F16'], ['step', 'I64']]);
    const w = j.tensors[0]!;
    expect([w.min, w.max]).toEqual([Math.min(...W), Math.max(...W)]);
    const int8 = fakeQuantize(W, [24, 40], { dtype: 'int8', symmetric: true, granularity: { kind: 'per-axis', axis: 0 } }).values;
    const int4 = fakeQuantize(W, [24, 40], { dtype: 'int4', symmetric: true, granularity: { kind: 'per-block', axis: -1, blockSize: 32 } }).values;
    expect(w.sqnr_db).toEqual({ 'int8 per channel': errorMeasures(W, int8).sqnrDb, 'int4 block 32': errorMeasures(W, int4).sqnrDb });
    expect(j.tensors[4]).toEqual({ name: 'step', dtype: 'I64', shape: [1], size: 1 });
    const text = runCli(['inspect', model]);
    expect(text.stdout).toMatch(/tensors {3}5 \(4 float, non-empty\)/);
    expect(text.stdout).toMatch(/layers\.0\.weight +F32 +\[24, 40\]/);
  });
});

describe('quantkit inspect on a .safetensors file quantkit quantized', () => {
  it('labels each scale and zero point as the parameters of its tensor, with no SQNR as if they were weights', () => {
    const q = t.path('inspect-q.safetensors');
    expect(runCli(['quantize', model, '-o', q, '--dtype', 'int8', '--symmetric', '--axis', '0']).code).toBe(0);
    const r = runCli(['inspect', q, '--json']);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as { tensors: { name: string; role?: string; of?: string; min?: number; max?: number; sqnr_db?: unknown }[] };
    const byName = new Map(j.tensors.map((x) => [x.name, x]));
    const scale = read(q).typed('layers.0.weight.scale', Float32Array);
    expect(byName.get('layers.0.weight.scale')).toMatchObject({ role: 'scale', of: 'layers.0.weight', min: Math.min(...scale), max: Math.max(...scale) });
    expect(byName.get('layers.0.weight.zero_point')).toMatchObject({ role: 'zero-point', of: 'layers.0.weight' });
    expect(byName.get('layers.0.weight')).toMatchObject({ role: 'codes', of: 'layers.0.weight' });
    for (const name of ['layers.0.weight.scale', 'layers.0.weight.zero_point', 'embed.weight.scale']) expect(byName.get(name)).not.toHaveProperty('sqnr_db');
    // The bias was not quantized (rank 1): still a weight, still priced.
    expect(byName.get('layers.0.bias')).toHaveProperty('sqnr_db');
    expect(byName.get('layers.0.bias')).not.toHaveProperty('role');
    const text = runCli(['inspect', q]).stdout;
    expect(text).toMatch(/^ *layers\.0\.weight\.scale +F32 +\[24\] +\S+ +\S+ +\(scale of layers\.0\.weight\)$/m);
    expect(text).toMatch(/tensors {3}\d+ \(1 float, non-empty\)/);
  });
});

describe('safetensors: bad input is one line on stderr, a non-zero exit and no output', () => {
  const CASES: { name: string; args: () => string[]; code: number; message: RegExp }[] = [
    { name: '--params with a safetensors input', args: () => ['quantize', model, '--params', 'p.json'], code: 2, message: /--params applies to \.npy input/ },
    { name: '--params-out with a safetensors input', args: () => ['quantize', model, '--dtype', 'int8', '--params-out', t.path('p.json')], code: 2, message: /--params-out applies to \.npy input/ },
    { name: 'a bad --include pattern', args: () => ['quantize', model, '--dtype', 'int8', '--include', '('], code: 2, message: /--include must be a regular expression/ },
    { name: '--out-dtype that is not a float type', args: () => ['dequantize', model, '--out-dtype', 'I8'], code: 2, message: /--out-dtype must be source, F32, F16, BF16 or F64/ },
    { name: 'an axis the tensors do not have', args: () => ['quantize', model, '--dtype', 'int8', '--axis', '2'], code: 1, message: /tensor 'layers.0.weight': .*axis/ },
    { name: 'a selection that leaves nothing to quantize', args: () => ['quantize', model, '--dtype', 'int8', '--include', 'nomatch'], code: 1, message: /nothing to quantize in '.*model\.safetensors': no non-empty float tensor \(F32, F16, BF16, F64\) match --include \/nomatch\/; its float tensors: layers\.0\.weight \[24, 40\], / },
    { name: 'dequantize of a file quantize did not write', args: () => ['dequantize', model], code: 1, message: /was not written by quantkit quantize/ },
    { name: 'a truncated file', args: () => ['quantize', truncated(), '--dtype', 'int8'], code: 1, message: /truncated\.safetensors/ },
  ];
  let cut: string | undefined;
  function truncated(): string {
    if (!cut) {
      cut = t.path('truncated.safetensors');
      const all = readFileSync(model);
      writeFileSync(cut, all.subarray(0, all.length - 5));
    }
    return cut;
  }

  for (const c of CASES) {
    it(c.name, () => {
      const out = t.path(`bad-${c.name.replace(/\W+/g, '-')}.safetensors`);
      const r = runCli([...c.args(), '-o', out]);
      expect(r.code).toBe(c.code);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(c.message);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('quantizing an already quantized file, a NaN in a tensor, and a name quantkit needs for parameters are refused, naming the tensor', () => {
    const q = t.path('q-again.safetensors');
    expect(runCli(['quantize', model, '-o', q, '--dtype', 'int8']).code).toBe(0);
    const again = runCli(['quantize', q, '-o', t.path('q2.safetensors'), '--dtype', 'int8']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already quantized by quantkit/);

    const nan = W.slice();
    nan[37] = NaN;
    const withNaN = t.path('nan.safetensors');
    writeFileSync(withNaN, encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [24, 40], data: bytes(nan) }]));
    const r = runCli(['quantize', withNaN, '-o', t.path('nan.q.safetensors'), '--dtype', 'int8']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tensor 'w': .*NaN at index 37/);
    expect(existsSync(t.path('nan.q.safetensors'))).toBe(false);

    const clash = t.path('clash.safetensors');
    writeFileSync(clash, encodeSafetensors([
      { name: 'w', dtype: 'F32', shape: [24, 40], data: bytes(W) },
      { name: 'w.scale', dtype: 'F32', shape: [1], data: bytes(new Float32Array([1])) },
    ]));
    const c = runCli(['quantize', clash, '-o', t.path('clash.q.safetensors'), '--dtype', 'int8']);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/tensor 'w.scale' already exists/);
  });

  it('--include on a .npy input is a usage error', () => {
    const r = runCli(['quantize', 'x.npy', '-o', t.path('x.q.npy'), '--dtype', 'int8', '--include', 'w']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--include and --exclude select tensors of a \.safetensors input/);
  });
});
