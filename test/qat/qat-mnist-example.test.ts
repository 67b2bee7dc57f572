import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../cli/helpers.js';

const ROOT = resolve(__dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'qat-mnist-test-'));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['examples/qat-mnist.mjs', ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('examples/qat-mnist.mjs --subset', () => {
  beforeAll(() => assertBuilt());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The example trains eleven models on a 300-digit subset on tfjs's CPU backend: seconds alone, minutes on a loaded 2-core machine.
  it('trains, quantizes and converts on real digits; the ONNX model predicts what the tfjs model does', { timeout: 900_000 }, async () => {
    const out = join(dir, 'model.onnx');
    const r = await run(['--subset', '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, number | string>;
    for (const key of ['float_accuracy', 'float_finetuned_accuracy', 'ptq_int8_accuracy', 'ptq_int4_accuracy', 'ptq_int4_head_int8_accuracy', 'ptq_int3_accuracy', 'qat_int4_accuracy', 'qat_int4_lsq_accuracy', 'qat_int4_head_int8_accuracy', 'qat_int3_accuracy', 'onnx_accuracy']) {
      expect(got[key], key).toBeGreaterThanOrEqual(0);
      expect(got[key], key).toBeLessThanOrEqual(1);
    }
    // Ten classes: a trained model is far above chance even on 200 digits.
    expect(got.float_accuracy).toBeGreaterThan(0.3);
    expect(got.onnx_path).toBe(out);
    expect(existsSync(out)).toBe(true);
    expect(got.onnx_argmax_agreement).toBe(1);
    expect(got.onnx_accuracy).toBe(got.qat_int4_accuracy);
    expect(got.onnx_max_logit_steps).toBeLessThanOrEqual(1);
    expect(got.train_seconds).toBeGreaterThan(0);
    // QAT and its float baseline train one pass over every training digit: the recovery is measured at equal training.
    expect(got.qat_digits).toBe(got.train_digits);
    expect(got.qat_steps).toBe(Math.ceil((got.train_digits as number) / 32));
    for (const [key, ptq] of [['qat_int4_recovery', 'ptq_int4_accuracy'], ['qat_int4_lsq_recovery', 'ptq_int4_accuracy'], ['qat_int3_recovery', 'ptq_int3_accuracy']] as const) {
      // null when PTQ lost nothing against the fine-tuned float model (there is nothing to recover).
      if (got[key] !== null) expect(typeof got[key], key).toBe('number');
      else expect(got[ptq]).toBeGreaterThanOrEqual(got.float_finetuned_accuracy as number);
    }
    // LSQ's settings are chosen on the validation digits: the chosen run is the best of the sweep there.
    const sweep = got.lsq_sweep as unknown as { scale_lr: number; init: string; val_accuracy: number }[];
    // Three decades of scale learning rates, each from the calibrated observers' scales.
    expect(sweep.map((r) => r.scale_lr)).toEqual([1e-4, 1e-3, 1e-2]);
    expect(new Set(sweep.map((r) => r.init))).toEqual(new Set(['observer']));
    const bestVal = Math.max(...sweep.map((r) => r.val_accuracy));
    const chosen = sweep.find((r) => r.scale_lr === got.lsq_scale_lr && r.init === got.lsq_init)!;
    expect(chosen.val_accuracy).toBe(bestVal);
    expect(got.val_digits).toBeGreaterThan(0);
    // The float and fine-tune/QAT learning rates are chosen on the validation digits too: the chosen
    // rate is one with the best validation accuracy among the candidates printed beside it.
    for (const [key, sweepKey, candidates] of [['float_lr', 'float_lr_sweep', [3e-3, 1e-2]], ['qat_lr', 'qat_lr_sweep', [3e-4, 1e-3]]] as const) {
      const rates = got[sweepKey] as unknown as { lr: number; val_accuracy: number }[];
      expect(rates.map((r) => r.lr), sweepKey).toEqual(candidates);
      for (const r of rates) {
        expect(r.val_accuracy, sweepKey).toBeGreaterThanOrEqual(0);
        expect(r.val_accuracy, sweepKey).toBeLessThanOrEqual(1);
        // Accuracies on the 100 validation digits are whole hundredths; on the 200 test digits they need not be.
        expect(Math.abs(r.val_accuracy * (got.val_digits as number) - Math.round(r.val_accuracy * (got.val_digits as number))), sweepKey).toBeLessThan(1e-9);
      }
      expect(rates.some((r) => r.lr === got[key] && r.val_accuracy === Math.max(...rates.map((q) => q.val_accuracy))), key).toBe(true);
    }
    // The headline int4 setting is chosen on the validation digits: of the four settings, fixed in
    // this order, the first where PTQ int4 loses most against the float model there; every int4
    // figure is that setting's, and the head-8-bit setting keeps keys of its own.
    const settings = got.ptq_int4_settings as unknown as { name: string; config: object; val_accuracy: number; val_drop: number; test_accuracy: number }[];
    expect(settings.map((c) => c.name)).toEqual(['int4', 'int4_head_int8', 'int4_per_tensor', 'int4_per_tensor_head_int8']);
    expect(settings[0]!.config).toEqual({ quantizationType: 'INT4' });
    for (const c of settings) {
      expect(Math.abs(c.val_accuracy * (got.val_digits as number) - Math.round(c.val_accuracy * (got.val_digits as number))), c.name).toBeLessThan(1e-9);
      expect(c.val_drop, c.name).toBeCloseTo((got.float_val_accuracy as number) - c.val_accuracy, 6);
      expect(c.test_accuracy, c.name).toBeGreaterThanOrEqual(0);
      expect(c.test_accuracy, c.name).toBeLessThanOrEqual(1);
    }
    const drops = settings.map((c) => c.val_drop);
    const chosenSetting = settings[drops.indexOf(Math.max(...drops))]!;
    expect(got.int4_setting).toBe(chosenSetting.name);
    expect(got.int4_config).toEqual(chosenSetting.config);
    expect(got.ptq_int4_accuracy).toBe(chosenSetting.test_accuracy);
    expect(got.ptq_int4_head_int8_accuracy).toBe(settings[1]!.test_accuracy);
    if (got.int4_setting === 'int4_head_int8') expect(got.qat_int4_head_int8_accuracy).toBe(got.qat_int4_accuracy);
    expect(got.float_lr_select).toEqual({ epochs: 1, digits: got.train_digits });
    // Every QAT run freezes BatchNorm from the first step and the observers halfway (PyTorch's recipe).
    expect(got.qat_freeze_batch_norm_after).toBe(0);
    expect(got.qat_freeze_observers_after).toBe(Math.ceil((got.qat_steps as number) / 2));
    const qatSweep = got.qat_lr_sweep as unknown as { lr: number; val_accuracy: number }[];
    expect(got.qat_int4_val_accuracy).toBe(Math.max(...qatSweep.map((r) => r.val_accuracy)));
    // The recovery on the validation digits, beside the test one: the chosen setting's PTQ and the fine-tuned float model there.
    const valDrop = (got.float_finetuned_val_accuracy as number) - chosenSetting.val_accuracy;
    if (valDrop > 0) expect(got.qat_int4_val_recovery).toBeCloseTo(((got.qat_int4_val_accuracy as number) - chosenSetting.val_accuracy) / valDrop, 2);
    else expect(got.qat_int4_val_recovery).toBeNull();
    // Paired counts on the test digits, with the z statistic they give.
    for (const key of ['ptq_int4_vs_float', 'qat_int4_vs_ptq_int4', 'lsq_vs_qat_int4', 'ptq_int3_vs_float', 'qat_int3_vs_ptq_int3']) {
      const p = got[key] as unknown as { lost: number; won: number; z: number };
      expect(p.lost + p.won, key).toBeLessThanOrEqual(got.test_digits as number);
      if (p.lost + p.won > 0) expect(p.z, key).toBeCloseTo((p.lost - p.won) / Math.sqrt(p.lost + p.won), 2);
    }
    // The paired counts are of the models the accuracies are: the second model's accuracy minus the first's is (won − lost) / digits.
    for (const [key, first, second] of [['ptq_int4_vs_float', 'float_finetuned_accuracy', 'ptq_int4_accuracy'], ['qat_int4_vs_ptq_int4', 'ptq_int4_accuracy', 'qat_int4_accuracy'], ['lsq_vs_qat_int4', 'qat_int4_accuracy', 'qat_int4_lsq_accuracy']] as const) {
      const p = got[key] as unknown as { lost: number; won: number };
      expect((got[second] as number) - (got[first] as number), key).toBeCloseTo((p.won - p.lost) / (got.test_digits as number), 9);
    }
    expect(got.cpu_seconds).toBeGreaterThan(0);
    const session = await ort.InferenceSession.create(out);
    expect(session.inputNames).toEqual(['input']);
  });

  it('refuses --out without a file name in one line', { timeout: 60_000 }, async () => {
    const r = await run(['--out']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('qat-mnist: --out needs a file name');
  });
});
