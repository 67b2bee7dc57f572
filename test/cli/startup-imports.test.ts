import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI, REPO, tempDir, writeNpy } from './helpers.js';

/**
 * Start-up is structural: a command line loads the modules its command runs and nothing else.
 * Each case runs the built CLI with a loader that records every file the process imported, and
 * names the modules that must be absent (no timing here: bench/cli.bench.mjs times it). The CLI is
 * bundled (scripts/build-cli.mjs): it loads chunks, and dist/cli/chunks/modules.json, written by
 * the same build, says which dist/ modules each chunk holds, so a loaded chunk counts as every
 * module in it: a command that pulls a heavy module into one of its chunks fails here as it did
 * when each module was a file.
 */

const RECORDER = join(REPO, 'test/helpers/record-imports.mjs');
const BUNDLE_BANNER = '// quantkit CLI, bundled by scripts/build-cli.mjs';
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

let chunkModules: Record<string, string[]> = {};
beforeAll(() => {
  assertBuilt();
  const manifest = join(REPO, 'dist/cli/chunks/modules.json');
  if (existsSync(manifest) && readFileSync(CLI, 'utf8').slice(0, 200).includes(BUNDLE_BANNER)) {
    chunkModules = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, string[]>;
  }
});
afterAll(() => tmp.cleanup());

/**
 * `quantkit <args>`: the files the process loaded (chunks, packages, node: builtins), and the
 * modules those hold (a chunk expanded to its dist/ modules), relative to the repository or
 * node_modules.
 */
function importsOf(args: readonly string[]): { code: number | null; files: string[]; modules: string[] } {
  const log = tmp.path(`imports-${Math.random().toString(36).slice(2)}.log`);
  const r = spawnSync(process.execPath, ['--import', RECORDER, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, QUANTKIT_IMPORT_LOG: log, QUANTKIT_DEBUG: '' },
  });
  const files = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((m) => m.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(`${REPO}/`, ''));
  const modules = files.flatMap((f) => (f.startsWith('dist/cli/') ? chunkModules[f.slice('dist/cli/'.length)] : undefined) ?? [f]);
  return { code: r.status, files, modules };
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
const COMMAND_MODULE = /^dist\/cli\/commands\/(?!index\.js$)/;
/** ggml's quantizers and their tables (what `gguf quantize` runs); ggml-types.js is the type list alone. */
const GGML = /^dist\/core\/ggml\/(?!ggml-types\.js$)/;
/** The ONNX commands' flag schemas and runners, imported when the command runs. */
const ONNX_RUN = /^dist\/cli\/(commands\/onnx-.*-run\.js|layer-options\.js|metric-flag-schema\.js|onnx-flags\.js)$/;

const matching = (modules: string[], patterns: readonly RegExp[]) => modules.filter((m) => patterns.some((p) => p.test(m)));

describe('start-up imports', () => {
  it('the bin is the bundle: a command line reads its chunks, not dist/ modules or commander files one by one', () => {
    expect(readFileSync(CLI, 'utf8').slice(0, 200)).toContain(BUNDLE_BANNER);
    const input = writeNpy(tmp.path('b.npy'), { dtype: 'float32', shape: [16], data: Float32Array.from({ length: 16 }, (_, i) => i - 7.5) });
    for (const args of [['--version'], ['quantize', input, '-o', tmp.path('b.q.npy'), '--dtype', 'int8', '--quiet']]) {
      const { code, files, modules } = importsOf(args);
      expect(code).toBe(0);
      expect(modules).toContain('dist/cli/main.js');
      expect(modules).toContain('node_modules/commander/index.js'); // bundled: in a chunk, so in modules...
      // ...and no file of its own; every dist/ file the process read is the entry or a chunk.
      expect(files.filter((f) => f.startsWith('node_modules/'))).toEqual([]);
      expect(files.filter((f) => f.startsWith('dist/') && !/^dist\/cli\/(main\.js|chunks\/[^/]+\.js)$/.test(f))).toEqual([]);
    }
  });

  // A bundled module's import.meta.url is its chunk's; scripts/build-cli.mjs rewrites each to the
  // URL of the module's own dist/ file, so what is found by path (the worker entries, the
  // dashboard, package.json) is found where tsc put it.
  it("every import.meta.url in the bundle names a module's own dist/ file, and those that find files by path are among them", () => {
    const cliDir = join(REPO, 'dist/cli');
    const bundle = ['main.js', ...readdirSync(join(cliDir, 'chunks')).filter((f) => f.endsWith('.js')).map((f) => `chunks/${f}`)];
    const named = new Set<string>();
    let uses = 0;
    for (const file of bundle) {
      // Apart from the bundler's own require() for node: builtins, which finds no file by path.
      const code = readFileSync(join(cliDir, file), 'utf8').replace(/__require = .*createRequire\(import\.meta\.url\)/g, '');
      uses += code.split('import.meta.url').length - 1;
      for (const m of code.matchAll(/new URL\("([^"]+)", import\.meta\.url\)\.href/g)) {
        const target = resolve(dirname(join(cliDir, file)), m[1]!);
        expect(existsSync(target), `${file}: ${m[1]}`).toBe(true);
        named.add(relative(REPO, target));
      }
    }
    expect(uses).toBe(bundle.reduce((n, file) => n + [...readFileSync(join(cliDir, file), 'utf8').matchAll(/new URL\("[^"]+", import\.meta\.url\)\.href/g)].length, 0));
    for (const m of ['dist/node/workers/worker-pool.js', 'dist/server/offload/offload.js', 'dist/server/routes/ui.js', 'dist/cli/run-cli.js']) expect(named).toContain(m);
  });

  it.each([[['--version']], [['-V']], [['--help']], [[]], [['help']], [['quantise', 'x.npy']]])(
    'quantkit %j loads no command module, no zod and none of the heavy stacks',
    (args) => {
      const { code, modules } = importsOf(args);
      expect(code).not.toBeNull();
      expect(modules.some((m) => m === 'dist/cli/main.js')).toBe(true); // the recorder saw the CLI
      expect(modules).toContain('node_modules/commander/index.js');
      expect(matching(modules, [...HEAVY, ZOD, COMMAND_MODULE, GGML])).toEqual([]);
      // commander requires it for subcommands that are executables; quantkit has none (scripts/build-cli.mjs).
      expect(modules).not.toContain('node:child_process');
    },
  );

  // Help is the options alone: every command's flags are checked by plain functions or by zod
  // schemas imported when the command runs, and its implementation waits for the run too.
  it.each([
    [['inspect', '--help']],
    [['serve', '--help']],
    [['quantize', '--help']],
    [['dequantize', '--help']],
    [['fake-quant', '--help']],
    [['calibrate', '--help']],
    [['onnx', '--help']],
    [['onnx', 'quantize', '--help']],
    [['onnx', 'compare', '--help']],
    [['onnx', 'sensitivity', '--help']],
    [['gguf', '--help']],
    [['gguf', 'quantize', '--help']],
    [['gguf', 'inspect', '--help']],
    [['gguf', 'dequantize', '--help']],
  ])('quantkit %j loads no zod, no ggml quantizer, no flag schema and none of the heavy stacks', (args) => {
    const { code, modules } = importsOf(args);
    expect(code).toBe(0);
    expect(modules).toContain('node_modules/commander/index.js');
    expect(matching(modules, [...HEAVY, ZOD, GGML, ONNX_RUN])).toEqual([]);
  });

  // The other side of the ONNX and GGUF boundaries: the run imports what the help left out (a bad
  // flag is refused by the schema, before any model is read; a missing model fails after ggml loads).
  it.each([
    [['onnx', 'quantize', 'missing.onnx', '-o', 'out.onnx', '--block-size', '7'], [ZOD, /^dist\/cli\/commands\/onnx-quantize-run\.js$/]],
    [['onnx', 'compare', 'a.onnx', 'b.onnx', '--runs', '0'], [ZOD, /^dist\/cli\/commands\/onnx-compare-run\.js$/]],
    [['onnx', 'sensitivity', 'a.onnx', '--precisions', 'int7'], [ZOD, /^dist\/cli\/layer-options\.js$/]],
    [['gguf', 'quantize', 'missing.gguf', '-o', 'out.gguf', '--type', 'Q4_K_M', '--output-tensor-type', 'Q9'], [GGML, /^dist\/cli\/commands\/gguf-quantize-run\.js$/]],
  ] as [string[], RegExp[]][])('quantkit %j loads its runner when it runs', (args, expected) => {
    const { code, modules } = importsOf(args);
    expect(code).toBe(2);
    for (const p of expected) expect(matching(modules, [p]).length).toBeGreaterThan(0);
  });

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

    // The params-file encoders (JSON, safetensors) are --params-out's: the report alone loads neither.
    const PARAMS_WRITERS = [/^dist\/node\/params\//, /^dist\/formats\/safetensors\.js$/, /^dist\/cli\/params-out\.js$/];
    it('calibrate without --params-out loads no params-file writer; with it, it does', () => {
      const alone = importsOf(['calibrate', input()]);
      expect(alone.code).toBe(0);
      expect(matching(alone.modules, PARAMS_WRITERS)).toEqual([]);
      const written = importsOf(['calibrate', input(), '--params-out', tmp.path('zc.w.safetensors'), '--force']);
      expect(written.code).toBe(0);
      expect(matching(written.modules, PARAMS_WRITERS).length).toBeGreaterThan(0);
    });
  });

  // Running a .npy command loads neither another command's stack nor the service's.
  it.each([
    ['quantize', ['-o', 'OUT', '--dtype', 'int8', '--force']],
    ['dequantize', ['-o', 'OUT', '--params', 'PARAMS', '--force']],
    ['fake-quant', ['-o', 'OUT', '--dtype', 'int8', '--force']],
    ['calibrate', []],
    ['inspect', []],
  ])('%s of a 16-value .npy %j loads no zod, no ggml, no ONNX stack and no service', (command, flags) => {
    const input =
      command === 'dequantize'
        ? writeNpy(tmp.path('r-codes.npy'), { dtype: 'int8', shape: [16], data: Int8Array.from({ length: 16 }, (_, i) => i - 8) })
        : writeNpy(tmp.path('r.npy'), { dtype: 'float32', shape: [16], data: Float32Array.from({ length: 16 }, (_, i) => i - 7.5) });
    const params = tmp.path('r.json');
    writeFileSync(params, JSON.stringify({ format: 'quantkit.params', version: 1, dtype: 'int8', bits: 8, signed: true, symmetric: true, narrow: false, granularity: 'per_tensor', axis: null, block_size: null, qmin: -128, qmax: 127, scale: [0.5], zero_point: [0], param_shape: [] }));
    const { code, modules } = importsOf([command, input, ...flags.map((f) => (f === 'OUT' ? tmp.path(`r-${command}.out.npy`) : f === 'PARAMS' ? params : f))]);
    expect(code).toBe(0);
    expect(matching(modules, [ZOD, GGML, ONNX_RUN, /^dist\/onnx\//, /^dist\/server\//, ...HEAVY.filter((p) => !p.test('dist/core/kernels/wasm.js') && !p.test('dist/core/observers/min-max-observer.js'))])).toEqual([]);
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
