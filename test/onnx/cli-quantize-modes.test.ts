import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeNpy } from '../../src/formats/npy.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { mlpModel, randomWeights } from './models.js';
import { maxAbs, maxAbsDiff } from './quantized-models.js';
import { runOrt } from './run-ort.js';
import { cli } from './onnx-cli.js';
import { ortAndReference, ROUNDING } from './reference-graph.js';
import { readCpuFeatures } from '../../src/node/onnx/cpu-features.js';
import { hasVnni } from '../../src/onnx/target.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI and onnxruntime in child processes.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});


function setup(opset = 17) {
  const dir = mkdtempSync(join(tmpdir(), 'qk-onnx-modes-'));
  dirs.push(dir);
  const model = mlpModel(64, 48, 16, opset);
  const input = join(dir, 'm.onnx');
  writeFileSync(input, encodeModel(model));
  return { dir, input, out: join(dir, 'q.onnx'), model };
}

/** The written model runs in onnxruntime-node as its exact integer reference does, and that is close to the float model. */
async function expectRunsClose(model: ReturnType<typeof mlpModel>, out: string, bound: number) {
  const feeds = { x: { dims: [1, 64], data: randomWeights(64, 99) } };
  const { ref, relError } = await ortAndReference(loadModel(out), feeds, runOrt);
  expect(relError).toBeLessThan(ROUNDING);
  const a = await runOrt(model, feeds);
  expect(maxAbsDiff(a.y!, ref.y!) / maxAbs(a.y!)).toBeLessThan(bound);
}

describe('quantkit onnx quantize --mode dynamic | static', () => {
  it('--mode dynamic writes MatMulInteger for MatMul and Gemm; the model runs in onnxruntime', async () => {
    const { input, out, model } = setup();
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'dynamic', '--per-channel']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dynamic uint8, 2 nodes quantized, 0 left in float,/);
    expect(r.stdout).toMatch(/2 x MatMulInteger uint8 per-channel/);
    expect(r.stdout).toMatch(/^target portable: U8U8 \(uint8 activations, uint8 symmetric weights\): .*exact/m);
    expect(loadModel(out).graph!.node.filter((n) => n.opType === 'DynamicQuantizeLinear')).toHaveLength(2);
    await expectRunsClose(model, out, 0.05);
  });

  it('--mode static --calibration DIR calibrates on the .npy batches and the QDQ model runs in onnxruntime', async () => {
    const { dir, input, out, model } = setup();
    const cal = join(dir, 'cal');
    mkdirSync(cal);
    writeFileSync(join(cal, 'x.npy'), encodeNpy({ dtype: 'float32', shape: [4, 1, 64], data: randomWeights(256, 7) }));
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'static', '--calibration', cal, '--per-channel', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/generated/);
    const j = JSON.parse(r.stdout) as { report: { mode: string; calibration: { batches: number; generatedInputs: boolean }; nodes: { status: string; form: string }[] } };
    expect(j.report.mode).toBe('static');
    expect(j.report.calibration).toMatchObject({ batches: 4, generatedInputs: false });
    expect(j.report.nodes.map((n) => [n.status, n.form])).toEqual([['quantized', 'QDQ'], ['quantized', 'QDQ']]);
    expect(loadModel(out).graph!.node.filter((n) => n.opType === 'QuantizeLinear').length).toBeGreaterThan(0);
    // Five activation roundings, on an input the four calibration batches did not contain.
    await expectRunsClose(model, out, 0.1);
  });

  it('an opset-9 model: raised to opset 11, said on stderr, and the dynamic model runs', async () => {
    const { input, out, model } = setup(9);
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'dynamic']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^quantkit: warning: OPSET RAISED: ai.onnx opset 9 -> 11 \(--mode dynamic needs it, as onnxruntime's quantizer does\); .*no node needed rewriting/m);
    // Said once: on stderr, not repeated among the summary's warnings on stdout.
    expect(`${r.stdout}${r.stderr}`.match(/OPSET RAISED/g)).toHaveLength(1);
    expect(Number(loadModel(out).opsetImport.find((o) => o.domain === '')!.version)).toBe(11);
    await expectRunsClose(model, out, 0.05);
  });

  it('--target x86-vnni writes full-range int8 and warns exactly when this CPU has no VNNI; --dtype int8 --reduce-range stays portable; contradictions are usage errors', async () => {
    const { input, out } = setup();
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'dynamic', '--target', 'x86-vnni', '--per-tensor']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 x MatMulInteger int8 per-tensor/);
    expect(r.stdout).toMatch(/target x86-vnni: U8S8 .*WRONG on x86 CPUs without VNNI/);
    const cpu = readCpuFeatures();
    if (hasVnni(cpu) === false) expect(r.stderr).toMatch(/warning: target x86-vnni model is WRONG on this CPU/);
    else expect(r.stderr).not.toMatch(/WRONG on this CPU/);

    const r7 = await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'dynamic', '--dtype', 'int8', '--reduce-range']);
    expect(r7.code, r7.stderr).toBe(0);
    expect(r7.stdout).toMatch(/target portable: U8S8 \(uint8 activations, int8 7-bit symmetric weights\)/);
    expect(r7.stderr).not.toMatch(/WRONG/);

    for (const [args, message] of [
      [['--target', 'avx2'], /--target <cpu>' argument 'avx2' is invalid. Allowed choices are portable, x86-vnni, arm64/],
      [['--per-channel', '--per-tensor'], /--per-channel and --per-tensor contradict each other/],
      [['--dtype', 'int8', '--target', 'portable'], null],
    ] as const) {
      const bad = await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'dynamic', ...args]);
      if (message) {
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(message);
      } else expect(bad.code, bad.stderr).toBe(0);
    }
    const weightOnly = await cli(['onnx', 'quantize', input, '-o', out, '--target', 'arm64']);
    expect(weightOnly.code).toBe(2);
    expect(weightOnly.stderr).toMatch(/--target applies to --mode dynamic and static/);
  });
});
