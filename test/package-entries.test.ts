import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { assertBuilt } from './cli/helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs a fresh Node process per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const ROOT = resolve(__dirname, '..');

/** Runs an ES module script in a fresh Node inside the package, where `quantkit` resolves to itself. */
function runModule(source: string): unknown {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', source], { cwd: ROOT, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

describe('package entries under Node', () => {
  beforeAll(() => assertBuilt());

  // The "node" condition of "." and "./core" installs uninitialized memory for large outputs
  // (core/output-array.ts); both names must share one core, so the allocator serves either.
  it("'quantkit' and 'quantkit/core' resolve to the Node entries, which skip zeroing large outputs", () => {
    const got = runModule(`
      const unsafe = Buffer.allocUnsafeSlow;
      let calls = 0;
      Buffer.allocUnsafeSlow = (n) => { calls++; return unsafe(n); };
      const lib = await import('quantkit');
      const core = await import('quantkit/core');
      const n = 1 << 21;
      const x = new Float32Array(n).map((_, i) => Math.sin(i));
      // Node calls allocUnsafeSlow itself (file reads while importing): count the calls each operation adds.
      const delta = (f) => { const before = calls; const r = f(); return [calls - before, r]; };
      const [byQuantize, a] = delta(() => lib.quantize(x, [n], { dtype: 'uint8' }).codes);
      const [byGivenOut, b] = delta(() => core.quantize(x, [n], { dtype: 'uint8', out: new Uint8Array(n) }).codes);
      const [byDequantize, values] = delta(() => core.dequantize(a, [n], core.computeQParams(x, [n], { dtype: 'uint8' })));
      console.log(JSON.stringify({ byQuantize, byGivenOut, byDequantize, same: lib.quantize === core.quantize, equal: Buffer.compare(a, b) === 0, values: values.length }));
    `);
    expect(got).toEqual({ byQuantize: 1, byGivenOut: 0, byDequantize: 1, same: true, equal: true, values: 1 << 21 });
  });

  // docs/engine.md's example, run as a user would: the engine entry and the library share one Quantizer
  // and one core, so its codes are the core's for the parameters it returns.
  it("'quantkit/engine' runs docs/engine.md's example with the library's own Quantizer", () => {
    const got = runModule(`
      const { Quantizer } = await import('quantkit/engine');
      const lib = await import('quantkit');
      const batch = (k) => Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.37 + k) * (1 + (i % 7)));
      const q = new Quantizer({ quantizationMode: 'CALIBRATED', usePercentile: true });
      const report = q.calibrate([batch(0), batch(1)]);
      const r = q.quantize(batch(2));
      const back = q.dequantize(r.codes, { params: r.params, shape: r.shape }).values;
      const codes = lib.quantize(batch(2), r.shape, { params: r.params }).codes;
      const want = lib.dequantize(codes, r.shape, r.params);
      console.log(JSON.stringify({
        same: Quantizer === lib.Quantizer,
        calibrated: report.scale === r.params.scale[0],
        codes: Buffer.compare(Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength), Buffer.from(r.codes.buffer, r.codes.byteOffset, r.codes.byteLength)) === 0,
        values: back.length === want.length && back.every((v, i) => Object.is(v, want[i])),
      }));
    `);
    expect(got).toEqual({ same: true, calibrated: true, codes: true, values: true });
  });

  it("'quantkit/node' quantizes a .safetensors file as the README shows, and 'quantkit' reads the result", () => {
    const got = runModule(`
      import { mkdtempSync, openSync, writeSync, closeSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const { SafetensorsFileReader, quantizeSafetensorsFile } = await import('quantkit/node');
      const { encodeSafetensors, decodeSafetensors, decodeQuantizedEntry, entryKey, quantize } = await import('quantkit');
      const dir = mkdtempSync(join(tmpdir(), 'qk-readme-'));
      const w = Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i * 0.7));
      const bytes = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors([
        { name: 'fc.weight', dtype: 'F32', shape: [64, 32], data: bytes(w) },
        { name: 'norm.weight', dtype: 'F32', shape: [4, 8], data: bytes(new Float32Array(32).fill(1)) },
      ]));
      const reader = SafetensorsFileReader.open(join(dir, 'model.safetensors'));
      const fd = openSync(join(dir, 'model.int8.safetensors'), 'w');
      const { quantized, kept } = quantizeSafetensorsFile(reader, { write: (b) => writeSync(fd, b) }, {
        dtype: 'int8', symmetric: true, granularity: { kind: 'per-axis', axis: 0 }, exclude: /embed|norm/,
      });
      closeSync(fd);
      reader.close();
      const file = decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'model.int8.safetensors'))));
      const scale = new Float32Array(file.tensorBytes('fc.weight.scale').slice().buffer);
      const zp = new Int32Array(file.tensorBytes('fc.weight.zero_point').slice().buffer);
      const entry = decodeQuantizedEntry('fc.weight', file.header.metadata[entryKey('fc.weight')], scale, zp);
      const want = quantize(w, [64, 32], { dtype: 'int8', symmetric: true, granularity: { kind: 'per-axis', axis: 0 } });
      const codes = file.tensorBytes('fc.weight');
      rmSync(dir, { recursive: true });
      console.log(JSON.stringify({ quantized: quantized.map((q) => q.name), kept, same: Buffer.compare(codes, bytes(want.codes)) === 0 && entry.params.scale.every((v, i) => v === want.params.scale[i]) }));
    `);
    expect(got).toEqual({ quantized: ['fc.weight'], kept: ['norm.weight'], same: true });
  });
});

describe('entries the docs import from', () => {
  // A doc's example that imports an entry package.json does not export fails for every reader
  // (ERR_PACKAGE_PATH_NOT_EXPORTED), and no other test runs the docs' snippets.
  it('are all exported by package.json', () => {
    const exported = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports);
    const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    const imported = new Map<string, string>();
    for (const doc of docs) {
      for (const m of readFileSync(join(ROOT, doc), 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)'(quantkit(?:\/[^']*)?)'/g)) {
        imported.set(m[1]!.replace(/^quantkit/, '.'), doc);
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    expect(imported.get('./engine')).toBe('docs/engine.md');
    const missing = [...imported].filter(([entry]) => !exported.includes(entry)).map(([entry, doc]) => `${doc}: ${entry}`);
    expect(missing).toEqual([]);
  });
});
