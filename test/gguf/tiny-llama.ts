import { float32ToFloat16Bits } from '../../src/core/float16.js';
import { encodeGguf } from '../../src/formats/gguf/encode-gguf-header.js';
import { GGML_TYPES } from '../../src/core/ggml/index.js';
import type { GgufValue } from '../../src/formats/gguf/gguf-value.js';

/*
 * The tiny llama models of scripts/gen-gguf-golden.py, built with quantkit's writer: the same
 * seeded integer hash, the same vocabulary and metadata, so the bytes (and the input SHA-256 in
 * test/fixtures/gguf/golden-models.json) are the script's.
 */

export interface TinyLlamaConfig {
  readonly seed: number;
  readonly n_vocab: number;
  readonly n_embd: number;
  readonly n_ff: number;
  readonly n_layer: number;
  readonly n_head: number;
  readonly n_head_kv: number;
  /** No output.weight: llama.cpp then uses token_embd as the output too. */
  readonly tied?: boolean;
}

/** lowbias32: a 32-bit integer hash. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function hashed(seed: number, tensorIndex: number, n: number): Uint32Array {
  const base = mix32((seed * 1000 + tensorIndex) >>> 0);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = mix32((i + base) >>> 0);
  return out;
}

function weightValues(seed: number, k: number, rows: number, cols: number): Float32Array {
  const h = hashed(seed, k, rows * cols);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = ((h[i]! >>> 8) - (1 << 23)) * 2 ** -(24 + (Math.floor(i / cols) % 3));
  return out;
}

function normValues(seed: number, k: number, n: number): Float32Array {
  const h = hashed(seed, k, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1 + ((h[i]! >>> 20) - 2048) * 2 ** -14;
  return out;
}

/** The SentencePiece vocabulary: <unk>, <s>, </s>, 256 byte tokens, then letters with and without '▁'. */
export function tinyVocab(n: number): { tokens: string[]; scores: Float32Array; types: Int32Array } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const pieces = [...[...letters].map((c) => `\u2581${c}`), ...letters];
  for (let i = 0; tokens.length < n; i++) {
    tokens.push(i < pieces.length ? pieces[i]! : `\u2581w${i}`);
    types.push(1);
  }
  const scores = new Float32Array(n);
  for (let i = 259; i < n; i++) scores[i] = -(i - 258);
  return { tokens, scores, types: Int32Array.from(types) };
}

/** Tensor specs in file order: name, ggml dims, and whether it is a 1-D norm (F32) or a weight (F16). */
export function tinyTensorSpecs(c: TinyLlamaConfig): { name: string; dims: number[] }[] {
  const kv = (c.n_embd * c.n_head_kv) / c.n_head;
  const specs = [{ name: 'token_embd.weight', dims: [c.n_embd, c.n_vocab] }];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `blk.${i}.`;
    specs.push(
      { name: `${p}attn_norm.weight`, dims: [c.n_embd] },
      { name: `${p}attn_q.weight`, dims: [c.n_embd, c.n_embd] },
      { name: `${p}attn_k.weight`, dims: [c.n_embd, kv] },
      { name: `${p}attn_v.weight`, dims: [c.n_embd, kv] },
      { name: `${p}attn_output.weight`, dims: [c.n_embd, c.n_embd] },
      { name: `${p}ffn_norm.weight`, dims: [c.n_embd] },
      { name: `${p}ffn_gate.weight`, dims: [c.n_embd, c.n_ff] },
      { name: `${p}ffn_up.weight`, dims: [c.n_embd, c.n_ff] },
      { name: `${p}ffn_down.weight`, dims: [c.n_ff, c.n_embd] },
    );
  }
  specs.push({ name: 'output_norm.weight', dims: [c.n_embd] });
  if (!c.tied) specs.push({ name: 'output.weight', dims: [c.n_embd, c.n_vocab] });
  return specs;
}

export function tinyMetadata(c: TinyLlamaConfig): Map<string, GgufValue> {
  const v = tinyVocab(c.n_vocab);
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  return new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'quantkit tiny llama' }],
    ['general.file_type', u32(1)],
    ['llama.context_length', u32(256)],
    ['llama.embedding_length', u32(c.n_embd)],
    ['llama.block_count', u32(c.n_layer)],
    ['llama.feed_forward_length', u32(c.n_ff)],
    ['llama.rope.dimension_count', u32(c.n_embd / c.n_head)],
    ['llama.attention.head_count', u32(c.n_head)],
    ['llama.attention.head_count_kv', u32(c.n_head_kv)],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: Math.fround(1e-5) }],
    ['llama.rope.freq_base', { type: 'f32', value: 10000 }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: v.tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: v.scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: v.types }],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(2)],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
  ]);
}

/** The whole F16 model file (norms F32, as converted models keep them). */
export function buildTinyLlama(c: TinyLlamaConfig): Uint8Array {
  const F32 = GGML_TYPES.F32;
  const F16 = GGML_TYPES.F16;
  const tensors = tinyTensorSpecs(c).map((s, k) => {
    if (s.dims.length === 1) {
      const x = normValues(c.seed, k, s.dims[0]!);
      return { ...s, type: F32, data: new Uint8Array(x.buffer) };
    }
    const x = weightValues(c.seed, k, s.dims[1]!, s.dims[0]!);
    return { ...s, type: F16, data: new Uint8Array(float32ToFloat16Bits(x).buffer) };
  });
  return encodeGguf(tinyMetadata(c), tensors);
}
