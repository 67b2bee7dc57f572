import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeGgufHeader } from '../../src/formats/gguf/gguf-header.js';
import type { LlamaMix } from '../../src/formats/gguf/llama-quant-plan.js';
import { quantizeGgufFile } from '../../src/node/gguf/quantize-gguf-file.js';
import { readImatrixFile } from '../../src/node/gguf/read-imatrix-file.js';
import { buildTinyLlama } from './tiny-llama.js';
import type { TinyLlamaConfig } from './tiny-llama.js';

/*
 * Whole models, byte for byte against llama.cpp itself: scripts/gen-gguf-golden.py ran
 * libllama's llama_model_quantize on the tiny llama models and kept each output's SHA-256 and
 * each tensor's; quantkit quantizes the same input (built here) and must write the same file.
 * A mismatch names the tensors that differ, with llama.cpp's type and quantkit's.
 */

interface GoldenCase {
  mix: LlamaMix;
  pure?: boolean;
  leave_output?: boolean;
  imatrix?: boolean;
  sha256: string;
  bytes: number;
  tensors: [string, string, string][];
}
const FIXTURES = new URL('../fixtures/gguf/', import.meta.url);
const golden = JSON.parse(readFileSync(new URL('golden-models.json', FIXTURES), 'utf8')) as {
  models: Record<string, { config: TinyLlamaConfig; mixes: Record<string, GoldenCase> }>;
};

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'quantkit-gguf-golden-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Tensors whose bytes or type differ from llama.cpp's, as 'name: llama.cpp TYPE, quantkit TYPE'. */
function differences(out: Uint8Array, want: GoldenCase): string[] {
  const h = decodeGgufHeader(out);
  const got = new Map(h.tensors.map((t) => [t.name, t]));
  const diffs: string[] = [];
  want.tensors.forEach(([name, type, hash], i) => {
    const t = got.get(name);
    if (!t) return void diffs.push(`${name}: missing`);
    if (h.tensors[i]?.name !== name) diffs.push(`${name}: at position ${h.tensors.indexOf(t)}, llama.cpp writes it at ${i}`);
    const start = Number(h.dataOffset + t.offset);
    const bytesHash = sha(out.subarray(start, start + t.byteLength)).slice(0, 16);
    if (t.type.name !== type || bytesHash !== hash) diffs.push(`${name}: llama.cpp ${type}, quantkit ${t.type.name}${t.type.name === type ? ' (different bytes)' : ''}`);
  });
  return diffs;
}

for (const [label, model] of Object.entries(golden.models)) {
  describe(`${label} model (${model.config.n_layer} layers, n_embd ${model.config.n_embd}): quantkit writes llama-quantize's file`, () => {
    let input: string;
    beforeAll(() => {
      input = join(dir, `${label}.f16.gguf`);
      writeFileSync(input, buildTinyLlama(model.config));
    });
    for (const [name, c] of Object.entries(model.mixes)) {
      it(name, { timeout: 600_000 }, () => {
        const out = join(dir, `${label}.${name}.gguf`);
        // The two imatrix forms hold the same data: each is used by some of the cases.
        const imatrixFile = name.startsWith('Q4_0') ? 'imatrix.gguf' : 'imatrix.dat';
        quantizeGgufFile(input, out, {
          mix: c.mix,
          ...(c.pure && { pure: true }),
          ...(c.leave_output && { leaveOutputTensor: true }),
          ...(c.imatrix && { imatrix: readImatrixFile(new URL(imatrixFile, FIXTURES).pathname) }),
        });
        const bytes = new Uint8Array(readFileSync(out));
        expect(differences(bytes, c)).toEqual([]);
        expect(bytes.length).toBe(c.bytes);
        expect(sha(bytes)).toBe(c.sha256);
      });
    }
  });
}
