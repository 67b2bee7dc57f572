import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { GGML_TYPES } from '../../core/ggml/index.js';
import { encodeGguf } from './encode-gguf-header.js';
import { decodeGgufHeader } from './gguf-header.js';
import type { GgufValue } from './gguf-value.js';
import { decodeLegacyImatrix, imatrixFromGguf } from './imatrix.js';

/** A legacy .dat: entries of (name, ncall, sums), then the optional chunk count and dataset. */
function dat(entries: [string, number, number[]][], trailer = true): Uint8Array {
  const parts: number[] = [];
  const i32 = (v: number) => parts.push(...new Uint8Array(Int32Array.of(v).buffer));
  i32(entries.length);
  for (const [name, ncall, sums] of entries) {
    const b = new TextEncoder().encode(name);
    i32(b.length);
    parts.push(...b);
    i32(ncall);
    i32(sums.length);
    parts.push(...new Uint8Array(Float32Array.from(sums).buffer));
  }
  if (trailer) {
    i32(10);
    i32(1);
    parts.push(0x78);
  }
  return Uint8Array.from(parts);
}

const f32 = (v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const META = new Map<string, GgufValue>([
  ['imatrix.datasets', { type: 'array', itemType: 'string', value: ['d'] }],
  ['imatrix.chunk_count', { type: 'u32', value: 1 }],
  ['imatrix.chunk_size', { type: 'u32', value: 512 }],
]);

function ggufImatrix(meta: Map<string, GgufValue>, tensors: { name: string; dims: number[]; data: number[]; type?: 'F32' | 'F16' }[]) {
  const bytes = encodeGguf(
    meta,
    tensors.map((t) => ({ name: t.name, dims: t.dims, type: GGML_TYPES[t.type ?? 'F32'], data: t.type === 'F16' ? new Uint8Array(t.data.length * 2) : f32(t.data) })),
  );
  const h = decodeGgufHeader(bytes);
  return imatrixFromGguf(h, (t) => bytes.subarray(Number(h.dataOffset + t.offset), Number(h.dataOffset + t.offset) + t.byteLength));
}

describe('importance matrices as llama-quantize loads them', () => {
  it('legacy .dat: sums / ncall in float32, sums as they are when ncall is 0, with or without the trailer', () => {
    const m = decodeLegacyImatrix(dat([['a.weight', 3, [1, 2, 0.1]], ['b.weight', 0, [5]]]));
    expect([...m.keys()]).toEqual(['a.weight', 'b.weight']);
    expect(m.get('a.weight')).toEqual(Float32Array.of(Math.fround(1 / 3), Math.fround(2 / 3), Math.fround(Math.fround(0.1) / 3)));
    expect(m.get('b.weight')).toEqual(Float32Array.of(5));
    expect(decodeLegacyImatrix(dat([['a', 2, [4]]], false)).get('a')).toEqual(Float32Array.of(2));
    // Read from a pooled Buffer view: the values come from the view's own bytes.
    const b = Buffer.concat([Buffer.from([9, 9, 9]), Buffer.from(dat([['a', 1, [7, 8]]]))]).subarray(3);
    expect(decodeLegacyImatrix(b).get('a')).toEqual(Float32Array.of(7, 8));
  });

  it('GGUF form: sums / round(count) per expert, 1 where an expert saw nothing', () => {
    const m = ggufImatrix(META, [
      { name: 'e.weight.in_sum2', dims: [2, 3], data: [2, 4, 6, 8, 10, 12] },
      { name: 'e.weight.counts', dims: [1, 3], data: [1.6, 0.2, 4] },
    ]);
    expect(m.get('e.weight')).toEqual(Float32Array.of(1, 2, 1, 1, 2.5, 3));
  });

  it('malformed files are one clear error', () => {
    expectQuantError(() => decodeLegacyImatrix(Uint8Array.of(0, 0, 0, 0)), 'MALFORMED_FILE', /entry count is 0: no data/);
    expectQuantError(() => decodeLegacyImatrix(Uint8Array.of(1, 0, 0)), 'MALFORMED_FILE', /ends at byte 3 inside the entry count/);
    expectQuantError(() => decodeLegacyImatrix(Uint8Array.of(1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)), 'MALFORMED_FILE', /entry 0: a name of -1 bytes does not fit/);
    expectQuantError(() => decodeLegacyImatrix(dat([['a', 1, []]])), 'MALFORMED_FILE', /entry 'a': 0 values do not fit/);
    expectQuantError(() => decodeLegacyImatrix(dat([['a', 1, [1, 2]]]).subarray(0, 20)), 'MALFORMED_FILE', /entry 'a': 2 values do not fit/);
    expectQuantError(() => ggufImatrix(new Map(), [{ name: 'a.in_sum2', dims: [1], data: [1] }]), 'MALFORMED_FILE', /imatrix\.datasets is missing/);
    expectQuantError(() => ggufImatrix(META, [{ name: 'a.in_sum2', dims: [1], data: [1] }]), 'MALFORMED_FILE', /'a' has sums but no counts/);
    expectQuantError(() => ggufImatrix(META, [{ name: 'a.in_sum2', dims: [2], data: [1, 2], type: 'F16' }, { name: 'a.counts', dims: [1], data: [1] }]), 'MALFORMED_FILE', /must be F32/);
    expectQuantError(() => ggufImatrix(META, [{ name: 'a.in_sum2', dims: [3], data: [1, 2, 3] }, { name: 'a.counts', dims: [2], data: [1, 1] }]), 'MALFORMED_FILE', /3 sums do not split into 2 experts/);
  });
});
