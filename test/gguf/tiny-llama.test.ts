import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeGgufHeader } from '../../src/formats/gguf/gguf-header.js';
import { buildTinyLlama } from './tiny-llama.js';
import type { TinyLlamaConfig } from './tiny-llama.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/gguf/golden-models.json', import.meta.url), 'utf8')) as {
  models: Record<string, { config: TinyLlamaConfig; inputSha256: string }>;
};

describe('quantkit writes the golden script\'s tiny llama models byte for byte', () => {
  for (const [label, m] of Object.entries(golden.models)) {
    it(`${label}: the F16 input has the script's SHA-256`, { timeout: 120_000 }, () => {
      const bytes = buildTinyLlama(m.config);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.inputSha256);
      const h = decodeGgufHeader(bytes);
      expect(h.tensors.length).toBe((m.config.tied ? 2 : 3) + 9 * m.config.n_layer);
    });
  }
});
