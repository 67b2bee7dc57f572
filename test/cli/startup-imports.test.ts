import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI, REPO, tempDir, writeNpy } from './helpers.js';

/**
 * Start-up is structural: a command line loads the modules its command runs and nothing else.
 * Each case runs the built CLI with a loader that records every module the process imported,
 * and names the modules that must be absent (no timing here: bench/cli.bench.mjs times it).
 */

const RECORDER = join(REPO, 'test/helpers/record-imports.mjs');
const tmp = tempDir();
/** Preload that appends a line to $QUANTKIT_WASM_LOG for every WebAssembly module compiled. */
const COMPILE_RECORDER = tmp.path('record-wasm-compiles.mjs');
writeFileSync(
  COMPILE_RECORDER,
  `import { appendFileSync } from 'node:fs';
const Compiled = WebAssembly.Module;
WebAssembly.Module = function Module(bytes) {
  appendFileSync(process.env.QUANTKIT_WASM_LOG, 'compiled\\n');
  return new Compiled(bytes);
};
WebAssembly.Module.prototype = Compiled.prototype;
Object.setPrototypeOf(WebAssembly.Module, Compiled);
`,
);

beforeAll(() => assertBuilt());
afterAll(() => tmp.cleanup());

/** Every module (URL or file path) `quantkit <args>` loads, relative to the repository or node_modules. */
function importsOf(args: readonly string[]): { code: number | null; modules: string[] } {
  const log = tmp.path(`imports-${Math.random().toString(36).slice(2)}.log`);
  const r = spawnSync(process.execPath, ['--import', RECORDER, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, QUANTKIT_IMPORT_LOG: log, QUANTKIT_DEBUG: '' },
  });
  const modules = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((m) => m.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(`${REPO}/`, ''));
  return { code: r.status, modules };
}

/** What no start-up path may load before its command runs: kernels, observers, protobuf, onnxruntime, the service's stack. */
const HEAVY = [
  /^dist\/core\/kernels\//,
  // The observer catalog is names as data (what --observer offers); the observers themselves are code.
  /^dist\/core\/observers\/(?!observer-catalog\.js$)/,
  /^node_modules\/onnx-buf\//,
  /^node_modules\/onnxruntime-(node|common)\//,
  /^node_modules\/@bufbuild\/protobuf\//,
  /^node_modules\/fastify\//,
  /^node_modules\/better-sqlite3\//,
];
const ZOD = /^node_modules\/zod\//;
// commander is CommonJS: required directly, its ESM wrapper (and the loader's second parse of it) is skipped.
const COMMANDER_ESM = /^node_modules\/commander\/esm\.mjs$/;
const COMMAND_MODULE = /^dist\/cli\/commands\/(?!index\.js$)/;

const matching = (modules: string[], patterns: readonly RegExp[]) => modules.filter((m) => patterns.some((p) => p.test(m)));

describe('start-up imports', () => {
  it.each([[['--version']], [['-V']], [['--help']], [[]], [['help']], [['quantise', 'x.npy']]])(
    'quantkit %j loads no command module, no zod and none of the heavy stacks',
    (args) => {
      const { code, modules } = importsOf(args);
      expect(code).not.toBeNull();
      expect(modules.some((m) => m === 'dist/cli/main.js')).toBe(true); // the recorder saw the CLI
      expect(modules).toContain('node_modules/commander/index.js');
      expect(matching(modules, [...HEAVY, ZOD, COMMAND_MODULE, COMMANDER_ESM])).toEqual([]);
    },
  );

  it.each([[['inspect', '--help']], [['serve', '--help']]])('quantkit %j loads no zod and none of the heavy stacks', (args) => {
    const { code, modules } = importsOf(args);
    expect(code).toBe(0);
    expect(matching(modules, [...HEAVY, ZOD])).toEqual([]);
  });

  // These commands' flag validation is zod schemas built when the module loads; the kernels and
  // the ONNX stack still wait for the command to run.
  it.each([[['quantize', '--help']], [['dequantize', '--help']], [['fake-quant', '--help']], [['onnx', '--help']], [['onnx', 'quantize', '--help']], [['onnx', 'compare', '--help']]])(
    'quantkit %j loads neither kernels, observers nor the ONNX stack',
    (args) => {
      const { code, modules } = importsOf(args);
      expect(code).toBe(0);
      expect(matching(modules, HEAVY)).toEqual([]);
    },
  );

  // Flags are checked by plain functions and params files by plain field checks: zod (~50 ms of
  // start-up) is the configuration contract's, loaded only where a config is read.
  it.each([
    ['quantize', ['--dtype', 'int8']],
    ['quantize', ['--dtype', 'int4', '--axis', '0', '--params-out', 'PARAMS.json']],
    ['quantize', ['--dtype', 'uint8', '--params-out', 'PARAMS.safetensors']],
    ['fake-quant', ['--dtype', 'int8', '--symmetric']],
  ])('a small .npy %s %j loads no zod, no node:crypto and, without --workers, no worker pool', (command, flags) => {
    const input = writeNpy(tmp.path(`z-${command}.npy`), { dtype: 'float32', shape: [4, 4], data: Float32Array.from({ length: 16 }, (_, i) => i - 7.5) });
    const args = [command, input, '-o', tmp.path(`z-${command}.out.npy`), '--force', ...flags.map((f) => f.replace('PARAMS', tmp.path(`z-${Math.random().toString(36).slice(2)}`)))];
    const { code, modules } = importsOf(args);
    expect(code).toBe(0);
    expect(modules).toContain('dist/core/kernels/wasm.js'); // it ran
    // node:crypto is 38 internal modules; a temp file's name needs no cryptographic randomness.
    expect(matching(modules, [ZOD, /^dist\/node\/workers\/worker-pool\.js$/, /^node:worker_threads$/, /^node:crypto$/])).toEqual([]);
  });

  describe('commands that read or write a params file', () => {
    const input = () => writeNpy(tmp.path('zc.npy'), { dtype: 'float32', shape: [16], data: Float32Array.from({ length: 16 }, (_, i) => i - 7.5) });
    const params = () => {
      const path = tmp.path('zc.json');
      const file = { format: 'quantkit.params', version: 1, dtype: 'int8', bits: 8, signed: true, symmetric: false, narrow: false, granularity: 'per_tensor', axis: null, block_size: null, qmin: -128, qmax: 127, scale: [0.0625], zero_point: [3], param_shape: [] };
      writeFileSync(path, JSON.stringify(file));
      return path;
    };
    const codes = () => writeNpy(tmp.path('zc.q.npy'), { dtype: 'int8', shape: [16], data: Int8Array.from({ length: 16 }, (_, i) => i - 8) });
    it.each([
      ['calibrate (the report alone)', () => ['calibrate', input()]],
      ['calibrate --params-out', () => ['calibrate', input(), '--params-out', tmp.path('zc.out.json'), '--force']],
      ['quantize --params', () => ['quantize', input(), '-o', tmp.path('zc.q2.npy'), '--params', params(), '--force']],
      ['dequantize --params', () => ['dequantize', codes(), '-o', tmp.path('zc.dq.npy'), '--params', params(), '--force']],
    ])('%s loads no zod', (_name, args) => {
      const { code, modules } = importsOf(args());
      expect(code).toBe(0);
      expect(matching(modules, [ZOD])).toEqual([]);
    });
  });

  it('a .npy quantize loads the kernels but not the observers, the safetensors or ONNX stacks or the progress bar', () => {
    const input = writeNpy(tmp.path('x.npy'), { dtype: 'float32', shape: [16], data: Float32Array.from({ length: 16 }, (_, i) => i - 7.5) });
    const { code, modules } = importsOf(['quantize', input, '-o', tmp.path('x.q.npy'), '--dtype', 'int8']);
    expect(code).toBe(0);
    expect(modules).toContain('dist/core/kernels/wasm.js');
    expect(
      matching(modules, [
        ...HEAVY.filter((p) => !p.test('dist/core/kernels/wasm.js')),
        /^dist\/(?!cli\/).*safetensors/,
        /^node_modules\/cli-progress\//,
        COMMANDER_ESM,
      ]),
    ).toEqual([]);
  });

  // Decoding and compiling a kernel module is a few milliseconds: a small file is staged through
  // the shared-memory instance, so the second (staging) module is never built.
  it.each([
    ['quantize', ['--dtype', 'int8', '--quiet']],
    ['quantize', ['--dtype', 'int8', '--symmetric', '--axis', '0', '--quiet']],
    ['fake-quant', ['--dtype', 'uint8']],
  ])('a 16-value .npy %s %j compiles one WebAssembly module', (command, flags) => {
    const input = writeNpy(tmp.path(`m-${command}.npy`), { dtype: 'float32', shape: [4, 4], data: Float32Array.from({ length: 16 }, (_, i) => i - 7.5) });
    const log = tmp.path(`modules-${Math.random().toString(36).slice(2)}.log`);
    const r = spawnSync(process.execPath, ['--import', COMPILE_RECORDER, CLI, command, input, '-o', tmp.path(`m-${command}.out.npy`), '--force', ...flags], {
      encoding: 'utf8',
      env: { ...process.env, QUANTKIT_WASM_LOG: log, QUANTKIT_DEBUG: '' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual(['compiled']);
  });
});
