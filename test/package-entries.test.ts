import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from './cli/helpers.js';

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
});
