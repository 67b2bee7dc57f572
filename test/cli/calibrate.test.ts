import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import { createObserver } from '../../src/core/observers/builtin-observers.js';
import type { QParams } from '../../src/core/qparams.js';
import { blockLayout } from '../../src/core/layout.js';
import { computeRange, fakeQuantize, qparamsFromRange, quantize } from '../../src/core/quantize.js';
import { toJson } from '../../src/cli/format-table.js';
import { assertBuilt, besidesSummary, readJson, readNpy, runCli, tempDir, writeNpy } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI as a child process, several times per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const t = tempDir();
const shape = [6, 50];
const n = 300;

/** Heavy-tailed data: mostly in [-1, 1], a few large values, one outlier per file. */
function heavy(seed: number, outlier: number): Float32Array {
  let s = seed >>> 0 || 1;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 4294967296;
    x[i] = i % 37 === 0 ? (u - 0.5) * 8 : (u - 0.5) * 2;
  }
  x[(seed * 41) % n] = outlier;
  return x;
}

const a = heavy(1, 30);
const b = heavy(2, -12);
const c = heavy(3, 5);
let fa: string;
let fb: string;
let fc: string;

beforeAll(() => {
  assertBuilt();
  fa = writeNpy(t.path('a.npy'), { dtype: 'float32', shape, data: a });
  fb = writeNpy(t.path('b.npy'), { dtype: 'float32', shape, data: b });
  fc = writeNpy(t.path('c.npy'), { dtype: 'float32', shape, data: c });
});
afterAll(() => t.cleanup());

const OBSERVERS: { cli: string; registry: string; args: string[]; options: Record<string, unknown> }[] = [
  { cli: 'minmax', registry: 'minmax', args: [], options: {} },
  { cli: 'moving-average', registry: 'moving-average', args: [], options: {} },
  { cli: 'percentile', registry: 'percentile', args: ['--percentile', '99'], options: { minPercentile: 1, maxPercentile: 99 } },
  { cli: 'mse', registry: 'histogram', args: [], options: {} },
  { cli: 'entropy', registry: 'entropy', args: [], options: {} },
];

function libraryParams(registry: string, options: Record<string, unknown>, axis: number | undefined, scheme: { dtype: 'int8' | 'uint8'; symmetric?: boolean }): QParams {
  const o = createObserver(registry, { ...options, axis });
  o.update(a, shape);
  o.update(b, shape);
  return o.qparams(scheme);
}

let runs = 0;

describe('quantkit calibrate', () => {
  for (const o of OBSERVERS) {
    for (const axis of [undefined, 0]) {
      it(`--observer ${o.cli} ${o.args.join(' ')}${axis === undefined ? '' : ' --axis 0'}: quantize --params reproduces the library's codes`, () => {
        const params = t.path(`p${runs++}.json`);
        const axisArgs = axis === undefined ? [] : ['--axis', String(axis)];
        const r = runCli(['calibrate', fa, fb, '--observer', o.cli, ...o.args, '--dtype', 'uint8', ...axisArgs, '--params-out', params]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const want = libraryParams(o.registry, o.options, axis, { dtype: 'uint8' });
        const json = readJson(params);
        expect(json.scale).toEqual(Array.from(want.scale));
        expect(json.zero_point).toEqual(Array.from(want.zeroPoint));
        const out = t.path(`q${runs++}.npy`);
        const q = runCli(['quantize', fc, '-o', out, '--params', params]);
        expect(besidesSummary(q.stderr)).toBe('');
        expect(Array.from(readNpy(out).data as Uint8Array)).toEqual(Array.from(quantize(c, shape, { params: want }).codes));
      });
    }
  }

  function calibrateJson(args: string[]): Record<string, any> {
    const r = runCli(['calibrate', ...args, '--params-out', t.path(`j${runs++}.json`), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Every --json of the CLI prints the same way (the onnx commands' toJson: indented, Infinity as null).
    expect(r.stdout).toBe(`${toJson(JSON.parse(r.stdout))}\n`);
    return JSON.parse(r.stdout) as Record<string, any>;
  }

  it('the observers differ where they should: percentile and entropy clip the outlier minmax keeps, mse narrows the range', () => {
    const mm = calibrateJson([fa, fb, '--observer', 'minmax']);
    const pct = calibrateJson([fa, fb, '--observer', 'percentile', '--percentile', '99.5']);
    const mse = calibrateJson([fa, fb, '--observer', 'mse']);
    const ent = calibrateJson([fa, fb, '--observer', 'entropy']);
    const avg = calibrateJson([fa, fb, '--observer', 'moving-average']);
    expect(mm.parameters[0]).toMatchObject({ range_min: -12, range_max: 30, clipped: 0 });
    for (const r of [pct, ent]) {
      expect(r.parameters[0].range_max).toBeLessThan(10);
      expect(r.total.clipped).toBeGreaterThan(0);
      expect(r.total.sqnr_db).toBeLessThan(mm.total.sqnr_db);
    }
    // For int8 the outlier's squared error outweighs the resolution gained: the MSE search keeps nearly all of it.
    expect(mse.parameters[0].range_max).toBeLessThan(30);
    expect(mse.total.mse).toBeLessThanOrEqual(mm.total.mse);
    expect(pct.percentile).toBe(99.5);
    const byDefault = calibrateJson([fa, fb, '--observer', 'percentile']);
    expect(byDefault.percentile).toBe(99.99);
    expect(byDefault.params.scale).toEqual(Array.from(libraryParams('percentile', { minPercentile: 100 - 99.99, maxPercentile: 99.99 }, undefined, { dtype: 'int8' }).scale));
    // The moving average starts at a's range and moves 1% towards b's.
    expect(avg.parameters[0].range_min).toBeCloseTo(b.reduce((m, v) => Math.min(m, v)) * 0.01 + a.reduce((m, v) => Math.min(m, v)) * 0.99, 5);
    expect(avg.parameters[0].range_max).toBeLessThan(30);
    expect(new Set([mm, pct, mse, ent, avg].map((r) => r.params.scale[0])).size).toBe(5);
  });

  it('--json: the parameters, per-parameter and total measures, and the histogram', () => {
    const r = calibrateJson([fa, fb, '--observer', 'percentile', '--dtype', 'int8', '--symmetric', '--axis', '0']);
    expect(r.observer).toBe('percentile');
    expect(r.params).toMatchObject({ format: 'quantkit.params', dtype: 'int8', symmetric: true, granularity: 'per_channel', axis: 0, param_shape: [6] });
    expect(r.files).toEqual([{ path: fa, shape }, { path: fb, shape }]);
    expect(r.parameters).toHaveLength(6);
    for (const p of r.parameters) {
      expect(Object.keys(p).sort()).toEqual(['clipped', 'clipped_fraction', 'count', 'mse', 'observed_max', 'observed_min', 'range_max', 'range_min', 'scale', 'sqnr_db', 'zero_point']);
      expect(p.count).toBe(100);
      expect(p.zero_point).toBe(0);
      expect(p.sqnr_db).toBeGreaterThan(10);
      expect(p.clipped_fraction).toBe(p.clipped / 100);
    }
    expect(r.total.count).toBe(600);
    expect(r.total.clipped).toBe(r.parameters.reduce((s: number, p: { clipped: number }) => s + p.clipped, 0));
    expect(r.total.observed_min).toBe(-12);
    expect(r.total.observed_max).toBe(30);
    expect(r.histogram.counts.reduce((s: number, v: number) => s + v, 0)).toBe(600);
    expect(r.histogram.edges).toHaveLength(17);
  });

  it('the text report: per-tensor details, a table per channel, a summary past 16 channels', () => {
    const params = t.path('text.json');
    const one = runCli(['calibrate', fa, '--observer', 'mse', '--params-out', params]);
    expect(one.code).toBe(0);
    for (const field of ['observer    mse', 'scheme      int8 [-128, 127], asymmetric, per-tensor', 'range       [', 'scale       ', 'zero_point  ', 'clipped     ', 'MSE         ', 'SQNR        ', 'histogram of the data (16 bins)', `written to ${params}`]) {
      expect(one.stdout).toContain(field);
    }
    expect(one.stdout).toMatch(/\n {2}>\[[^\n]*#*\s+1\n$/); // the bin of the outlier 30 is outside the range
    const table = runCli(['calibrate', fa, '--axis', '0', '--params-out', params]);
    expect(table.stdout).toMatch(/param +range +observed +scale +zero_point +clipped +MSE +SQNR \(dB\)/);
    expect(table.stdout.match(/^ {2}[0-5] +\[/gm)).toHaveLength(6);
    const wide = runCli(['calibrate', fa, '--axis', '1', '--params-out', params]);
    expect(wide.stdout).toContain('over the 50 parameters');
    expect(wide.stdout).toMatch(/scale +[\d.e-]+ +[\d.e-]+ +[\d.e-]+/);
    expect(wide.stdout).toContain('lowest SQNR: ');
  });

  it('per-block with minmax writes parameters quantize --params reproduces', () => {
    const params = t.path('pb.json');
    const r = runCli(['calibrate', fa, fb, '--dtype', 'int8', '--block-size', '8', '--params-out', params]);
    expect(r.code).toBe(0);
    const out = t.path('pb.npy');
    expect(runCli(['quantize', fc, '-o', out, '--params', params]).code).toBe(0);
    const granularity = { kind: 'per-block', axis: -1, blockSize: 8 } as const;
    const layout = blockLayout(shape, granularity);
    const ra = computeRange(a, layout);
    const rb = computeRange(b, layout);
    const min = ra.min.map((v, p) => Math.min(v, rb.min[p]));
    const max = ra.max.map((v, p) => Math.max(v, rb.max[p]));
    const want = qparamsFromRange(min, max, shape, { dtype: 'int8', granularity });
    expect(readJson(params)).toMatchObject({ granularity: 'per_block', param_shape: [6, 7], scale: Array.from(want.scale) });
    expect(Array.from(readNpy(out).data as Int8Array)).toEqual(Array.from(quantize(c, shape, { params: want }).codes));
  });
});

describe('quantkit calibrate without --params-out', () => {
  it('prints the report alone, the same figures as with a parameters file, and writes nothing', () => {
    const before = t.files();
    const alone = runCli(['calibrate', fa, fb, '--observer', 'entropy', '--dtype', 'uint8', '--json']);
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stderr).toBe('');
    expect(t.files()).toEqual(before);
    const withFile = runCli(['calibrate', fa, fb, '--observer', 'entropy', '--dtype', 'uint8', '--json', '--params-out', t.path('alone.json')]);
    expect(withFile.code, withFile.stderr).toBe(0);
    const a1 = JSON.parse(alone.stdout) as Record<string, unknown>;
    const a2 = JSON.parse(withFile.stdout) as Record<string, unknown>;
    expect(a1.params_out).toBeNull();
    expect({ ...a1, params_out: undefined }).toEqual({ ...a2, params_out: undefined });
    const text = runCli(['calibrate', fa, '--dtype', 'int8']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^parameters {2}1 \(shape \[\]\) not written \(no --params-out\)$/m);
  });
});

describe('quantkit quantize --observer', () => {
  it("percentile: codes are the library's with that observer's parameters", () => {
    const out = t.path('qo.npy');
    const paramsOut = t.path('qo.json');
    const r = runCli(['quantize', fa, '-o', out, '--dtype', 'int8', '--axis', '0', '--observer', 'percentile', '--percentile', '99', '--params-out', paramsOut]);
    expect(besidesSummary(r.stderr)).toBe('');
    expect(r.code).toBe(0);
    const o = createObserver('percentile', { minPercentile: 1, maxPercentile: 99, axis: 0 });
    o.update(a, shape);
    const want = o.qparams({ dtype: 'int8' });
    expect(readJson(paramsOut).scale).toEqual(Array.from(want.scale));
    expect(Array.from(readNpy(out).data as Int8Array)).toEqual(Array.from(quantize(a, shape, { params: want }).codes));
    const mm = runCli(['quantize', fa, '-o', t.path('qm.npy'), '--dtype', 'int8', '--axis', '0', '--observer', 'minmax', '--params-out', t.path('qm.json')]);
    expect(mm.code).toBe(0);
    expect(readJson(t.path('qm.json')).scale).toEqual(Array.from(quantize(a, shape, { dtype: 'int8', granularity: { kind: 'per-axis', axis: 0 } }).params.scale));
    expect(readJson(t.path('qm.json')).scale).not.toEqual(readJson(paramsOut).scale);
  });

  it('refuses --observer with --params, with --block-size, and with --allow-inf', () => {
    for (const args of [
      ['--params', t.path('p0.json'), '--observer', 'mse'],
      ['--dtype', 'int4', '--block-size', '8', '--observer', 'entropy'],
      ['--dtype', 'int8', '--allow-inf', '--observer', 'percentile'],
    ]) {
      const out = t.path('refused.npy');
      const r = runCli(['quantize', fa, '-o', out, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/--observer|--params/);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('quantkit fake-quant --observer', () => {
  it("mse: values are the library's fake-quant with that observer's parameters", () => {
    const out = t.path('fo.npy');
    const paramsOut = t.path('fo.json');
    const r = runCli(['fake-quant', fa, '-o', out, '--dtype', 'uint8', '--observer', 'mse', '--params-out', paramsOut]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = createObserver('histogram', {});
    o.update(a, shape);
    const want = o.qparams({ dtype: 'uint8' });
    expect(readJson(paramsOut).scale).toEqual(Array.from(want.scale));
    expect(readJson(paramsOut).scale).not.toEqual(Array.from(quantize(a, shape, { dtype: 'uint8' }).params.scale));
    expect(Array.from(readNpy(out).data as Float32Array)).toEqual(Array.from(fakeQuantize(a, shape, { params: want }).values));
  });

  it('refuses --observer with --params, as quantize does', () => {
    const out = t.path('frefused.npy');
    const r = runCli(['fake-quant', fa, '-o', out, '--params', t.path('p0.json'), '--observer', 'percentile']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--params carries the parameters/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('calibrate: bad input is one line on stderr, a non-zero exit and no output', () => {
  const bad = t.path('bad.json');
  let nanFile: string;
  let emptyFile: string;
  let otherShape: string;
  beforeAll(() => {
    const x = a.slice();
    x[1 * 50 + 7] = NaN;
    nanFile = writeNpy(t.path('nan.npy'), { dtype: 'float32', shape, data: x });
    emptyFile = writeNpy(t.path('empty.npy'), { dtype: 'float32', shape: [0, 50], data: new Float32Array(0) });
    otherShape = writeNpy(t.path('other.npy'), { dtype: 'float32', shape: [5, 50], data: new Float32Array(250) });
  });

  const CASES: { name: string; args: () => string[]; code: number; message: () => RegExp | string }[] = [
    { name: 'unknown observer', args: () => [fa, '--observer', 'kl'], code: 2, message: () => "unknown observer 'kl': expected one of minmax, moving-average, percentile, mse, entropy" },
    { name: 'percentile above 100', args: () => [fa, '--observer', 'percentile', '--percentile', '100.5'], code: 2, message: () => '--percentile must be in [0, 100], got 100.5' },
    { name: 'percentile below 0', args: () => [fa, '--observer', 'percentile', '--percentile', '-3'], code: 2, message: () => '--percentile must be in [0, 100], got -3' },
    { name: 'percentile not above 50', args: () => [fa, '--observer', 'percentile', '--percentile', '50'], code: 2, message: () => 'must be above 50, got 50' },
    { name: 'percentile not a number', args: () => [fa, '--observer', 'percentile', '--percentile', 'high'], code: 2, message: () => "--percentile expects a number, got 'high'" },
    { name: '--percentile without the percentile observer', args: () => [fa, '--percentile', '99'], code: 2, message: () => '--percentile applies to --observer percentile' },
    { name: 'per-block with another observer', args: () => [fa, '--observer', 'mse', '--block-size', '8'], code: 2, message: () => 'does not support --block-size' },
    { name: 'batches of different shapes (per channel)', args: () => [fa, otherShape, '--axis', '0'], code: 1, message: () => `'${fa}' has shape [6, 50] (parameters [6]), '${otherShape}' has [5, 50] (parameters [5])` },
    { name: 'NaN in a batch', args: () => [fa, nanFile, '--observer', 'entropy', '--axis', '0'], code: 1, message: () => `${nanFile}[1, 7] is NaN (flat index 57)` },
    { name: 'an empty file', args: () => [fa, emptyFile], code: 1, message: () => `'${emptyFile}' holds no values` },
    { name: 'not a .npy file', args: () => [fa, t.path('missing.npy')], code: 1, message: () => 'cannot read' },
    { name: 'a bad dtype', args: () => [fa, '--dtype', 'int1'], code: 2, message: () => "unknown dtype 'int1'" },
    { name: 'axis out of range', args: () => [fa, '--axis', '2'], code: 1, message: () => 'axis 2 is out of range' },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const r = runCli(['calibrate', ...c.args(), '--params-out', bad]);
      expect(r.code).toBe(c.code);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(c.message() as string);
      expect(existsSync(bad)).toBe(false);
    });
  }

  it('batches of different ranks', () => {
    const flat = writeNpy(t.path('flat.npy'), { dtype: 'float32', shape: [300], data: a });
    const r = runCli(['calibrate', fa, flat, '--params-out', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([`quantkit: calibration batches must share a rank and the parameters' shape: '${fa}' has shape [6, 50] (parameters []), '${flat}' has [300] (parameters [])`]);
    expect(existsSync(bad)).toBe(false);
  });
});
