import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dequantizeGgml } from '../../src/core/ggml/index.js';
import { decodeGgufHeader } from '../../src/formats/gguf/gguf-header.js';
import { assertBuilt, runCli, tempDir, expectRefusal } from '../cli/helpers.js';
import { buildTinyLlama } from './tiny-llama.js';
import type { TinyLlamaConfig } from './tiny-llama.js';

// The built CLI runs as a child process, several times per test, on a 2-core machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const FIXTURES = new URL('../fixtures/gguf/', import.meta.url);
const golden = JSON.parse(readFileSync(new URL('golden-models.json', FIXTURES), 'utf8')) as {
  models: { small: { config: TinyLlamaConfig; mixes: Record<string, { sha256: string }> } };
};
const t = tempDir();
let model: string;

beforeAll(() => {
  assertBuilt();
  model = t.path('small.f16.gguf');
  writeFileSync(model, buildTinyLlama(golden.models.small.config));
});
afterAll(() => t.cleanup());

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const expectFailure = (args: string[], status: number, message: RegExp): void => expectRefusal(t, args, status, message);

describe('quantkit gguf', () => {
  it("quantize writes llama-quantize's Q4_K_M file byte for byte, and reports the mix", () => {
    const out = t.path('small.Q4_K_M.gguf');
    const r = runCli(['gguf', 'quantize', model, '-o', out, '--type', 'Q4_K_M']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Q4_K_M, 16 of 21 tensors converted/);
    expect(r.stdout).toMatch(/took a fallback type/);
    expect(sha(out)).toBe(golden.models.small.mixes.Q4_K_M!.sha256);
    const j = runCli(['gguf', 'quantize', model, '-o', t.path('j.gguf'), '--type', 'q8_0', '--json']);
    expect(j.code, j.stderr).toBe(0);
    const report = JSON.parse(j.stdout) as { mix: string; tensors: { name: string; to: string }[]; bitsPerWeight: number };
    expect(report.mix).toBe('Q8_0');
    expect(report.tensors.find((x) => x.name === 'blk.0.attn_q.weight')!.to).toBe('Q8_0');
    expect(report.tensors.find((x) => x.name === 'output_norm.weight')!.to).toBe('F32');
    expect(sha(t.path('j.gguf'))).toBe(golden.models.small.mixes.Q8_0!.sha256);
  });

  it('inspect prints metadata, types, tensors and bits per weight; --json as one object', () => {
    const out = t.path('small.Q4_K_M.gguf');
    const r = runCli(['gguf', 'inspect', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/GGUF v3, 21 tensors, 21 keys/);
    expect(r.stdout).toMatch(/general\.file_type = 15/);
    expect(r.stdout).toMatch(/llama\.attention\.layer_norm_rms_epsilon = 0\.00001\n/);
    expect(r.stdout).toMatch(/tokenizer\.ggml\.tokens = \[string x 300\] "<unk>", "<s>"/);
    expect(r.stdout).toMatch(/blk\.1\.ffn_down\.weight\s+\[128, 64\]\s+Q8_0\s+8704\s+8\.50/);
    const j = JSON.parse(runCli(['gguf', 'inspect', out, '--json']).stdout) as {
      tensors: unknown[];
      metadata: Record<string, { type: string; value?: unknown; length?: number }>;
      types: Record<string, { tensors: number }>;
      bitsPerWeight: number;
    };
    expect(j.tensors).toHaveLength(21);
    expect(j.metadata['general.quantization_version']).toEqual({ type: 'u32', value: 2 });
    expect(j.metadata['tokenizer.ggml.tokens']!.length).toBe(300);
    expect(j.types.F32!.tensors).toBe(5);
    expect(j.bitsPerWeight).toBeGreaterThan(4);
    expect(j.bitsPerWeight).toBeLessThan(8);
  });

  it('dequantize decodes every quantized tensor to F32 (ggml dequantize_row_* values)', () => {
    const q = t.path('small.Q4_K_M.gguf');
    const out = t.path('deq.f32.gguf');
    const r = runCli(['gguf', 'dequantize', q, '-o', out, '--type', 'F32']);
    expect(r.code, r.stderr).toBe(0);
    const src = new Uint8Array(readFileSync(q));
    const dst = new Uint8Array(readFileSync(out));
    const hs = decodeGgufHeader(src);
    const hd = decodeGgufHeader(dst);
    expect(hd.tensors.every((x) => x.type.name === 'F32')).toBe(true);
    for (const name of ['blk.0.attn_q.weight', 'output.weight']) {
      const a = hs.tensors.find((x) => x.name === name)!;
      const b = hd.tensors.find((x) => x.name === name)!;
      const at = Number(hs.dataOffset + a.offset);
      const want = dequantizeGgml(src.subarray(at, at + a.byteLength), a.type.name as never, a.elements);
      const bt = Number(hd.dataOffset + b.offset);
      expect(new Float32Array(dst.slice(bt, bt + b.byteLength).buffer)).toEqual(want);
    }
    expect(decodeGgufHeader(dst).metadata.get('general.file_type')).toEqual({ type: 'u32', value: 0 });
  });

  it('bad inputs: one line, nothing written', () => {
    writeFileSync(t.path('not.gguf'), 'hello, this is text');
    const cut = readFileSync(model).subarray(0, 5000);
    writeFileSync(t.path('cut.gguf'), cut);
    writeFileSync(t.path('bad.imatrix'), Uint8Array.of(1, 0, 0, 0, 200, 0, 0, 0));
    expectFailure(['gguf', 'quantize', t.path('missing.gguf'), '-o', t.path('o.gguf'), '--type', 'Q8_0'], 1, /cannot read '.*missing\.gguf'/);
    expectFailure(['gguf', 'quantize', t.path('not.gguf'), '-o', t.path('o.gguf'), '--type', 'Q8_0'], 1, /not\.gguf': GGUF: not a GGUF file: it starts with 'hell'/);
    expectFailure(['gguf', 'inspect', t.path('cut.gguf')], 1, /cut\.gguf': GGUF: the item count of key 'tokenizer\.ggml\.scores' is 300, more than the 278 bytes left in the file can hold/);
    expectFailure(['gguf', 'quantize', model, '-o', t.path('o.gguf'), '--type', 'Q9_K'], 2, /--type 'Q9_K' is not a mix; one of F32, F16, Q4_0/);
    expectFailure(['gguf', 'quantize', model, '-o', t.path('o.bin'), '--type', 'Q8_0'], 2, /must end in \.gguf/);
    expectFailure(['gguf', 'quantize', model, '-o', model, '--type', 'Q8_0'], 2, /is the input itself: writing it would replace the input \(use --force to do so\)/);
    expectFailure(['gguf', 'quantize', model, '-o', t.path('o.gguf'), '--type', 'Q8_0', '--imatrix', t.path('bad.imatrix')], 1, /bad\.imatrix': imatrix: entry 0: a name of 200 bytes does not fit the file/);
    expectFailure(['gguf', 'quantize', model, '-o', t.path('o.gguf'), '--type', 'Q4_K_M', '--imatrix', new URL('imatrix.dat', FIXTURES).pathname], 1, /the importance matrix has 256 values for '[^']+', which needs 64/);
    expectFailure(['gguf', 'quantize', model, '-o', t.path('o.gguf'), '--type', 'Q8_0', '--output-tensor-type', 'Q7'], 2, /--output-tensor-type 'Q7' is not a ggml type/);
    expectFailure(['gguf', 'quantize', t.path('small.Q4_K_M.gguf'), '-o', t.path('o.gguf'), '--type', 'Q8_0'], 1, /is already Q5_0: requantizing .*--allow-requantize/);
  });
});
