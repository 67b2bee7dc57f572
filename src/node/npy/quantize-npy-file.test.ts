import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Granularity } from '../../core/layout.js';
import { dequantize, fakeQuantize, quantize } from '../../core/quantize.js';
import { isWasmArray, wasmZeroCopy } from '../../core/kernels/index.js';
import { referenceKernels } from '../../core/kernels/reference.js';
import { wasmHeap } from '../../core/kernels/wasm-memory.js';
import type { ChunkRunner } from '../workers/chunk-runner.js';
import { createLocalRunner } from '../workers/chunk-runner.js';
import { decodeNpy, encodeNpy } from '../../formats/npy.js';
import { dequantizeNpyFile } from './dequantize-npy-file.js';
import { NpyFileReader } from './npy-file-reader.js';
import { fakeQuantizeNpyFile, quantizeNpyFile } from './quantize-npy-file.js';

const dir = mkdtempSync(join(tmpdir(), 'quantkit-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shape = [5, 37, 3];
const n = 5 * 37 * 3;
const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 11)) + (i % 29 === 0 ? 0.5 : 0));

function file(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** A sink collecting the streamed bytes; an open reader whose chunk reads are recorded. */
function collect() {
  const parts: Uint8Array[] = [];
  return {
    write: (b: Uint8Array) => void parts.push(b.slice()),
    bytes: () => {
      const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) out.set(p, (o += p.length) - p.length);
      return out;
    },
  };
}

function openSpied(path: string) {
  const reader = NpyFileReader.open(path);
  const reads: number[] = [];
  const sync = reader.readFloat32.bind(reader);
  const async = reader.readFloat32Async.bind(reader);
  // Reads converting data go through readFloat32, raw float32 prefetches through readFloat32Async.
  reader.readFloat32 = (start, out) => {
    reads.push(out.length);
    return sync(start, out);
  };
  reader.readFloat32Async = (start, out) => {
    reads.push(out.length);
    return async(start, out);
  };
  return { reader, reads };
}

const input = file('x.npy', encodeNpy({ dtype: 'float32', shape, data: x }));
const GRANULARITIES: Granularity[] = [
  { kind: 'per-tensor' },
  { kind: 'per-axis', axis: 1 },
  { kind: 'per-axis', axis: -1 },
  { kind: 'per-block', axis: 1, blockSize: 8 },
  { kind: 'per-block', axis: 2, blockSize: 2 },
  { kind: 'per-block', axis: 0, blockSize: 3 },
];

describe('quantizeNpyFile (streamed)', () => {
  for (const g of GRANULARITIES) {
    it(`chunks of 64 elements give the library's whole-array codes: ${JSON.stringify(g)}`, async () => {
      const { reader, reads } = openSpied(input);
      const sink = collect();
      const res = await quantizeNpyFile(reader, sink, { dtype: 'int8', granularity: g, chunkElements: 64 });
      reader.close();
      const want = quantize(x, shape, { dtype: 'int8', granularity: g });
      expect(decodeNpy(sink.bytes())).toEqual({ dtype: 'int8', shape, data: want.codes });
      expect(Array.from(res.params.scale)).toEqual(Array.from(want.params.scale));
      // Two passes, never more than one chunk at a time.
      expect(Math.max(...reads)).toBe(64);
      expect(reads.reduce((a, b) => a + b, 0)).toBe(2 * n);
    });
  }

  it('with given parameters: one pass, the same codes', async () => {
    const params = quantize(x, shape, { dtype: 'uint4', granularity: GRANULARITIES[3] }).params;
    const { reader, reads } = openSpied(input);
    const sink = collect();
    await quantizeNpyFile(reader, sink, { params, chunkElements: 128 });
    reader.close();
    expect(decodeNpy(sink.bytes()).data).toEqual(quantize(x, shape, { params }).codes);
    expect(reads.reduce((a, b) => a + b, 0)).toBe(n);
  });

  it('packs chunk by chunk into the same bytes as packing the whole array', async () => {
    const reader = NpyFileReader.open(input);
    const sink = collect();
    await quantizeNpyFile(reader, sink, { dtype: 'int4', pack: true, chunkElements: 64 });
    reader.close();
    const codes = quantize(x, shape, { dtype: 'int4' }).codes as Int8Array;
    const want = new Uint8Array(Math.ceil(n / 2));
    referenceKernels.pack(codes, 4, want);
    expect(decodeNpy(sink.bytes())).toEqual({ dtype: 'uint8', shape: [want.length], data: want });
  });

  it('stochastic rounding draws in element order across chunks', async () => {
    const reader = NpyFileReader.open(input);
    const sink = collect();
    await quantizeNpyFile(reader, sink, { dtype: 'uint8', rounding: 'stochastic', seed: 9, chunkElements: 64 });
    reader.close();
    expect(decodeNpy(sink.bytes()).data).toEqual(quantize(x, shape, { dtype: 'uint8', rounding: 'stochastic', seed: 9 }).codes);
  });

  it('fake-quantizes and dequantizes (also packed codes) chunk by chunk', async () => {
    const g = GRANULARITIES[4];
    let reader = NpyFileReader.open(input);
    const fq = collect();
    await fakeQuantizeNpyFile(reader, fq, { dtype: 'int4', granularity: g, chunkElements: 64 });
    reader.close();
    expect(decodeNpy(fq.bytes()).data).toEqual(fakeQuantize(x, shape, { dtype: 'int4', granularity: g }).values);

    const { codes, params } = quantize(x, shape, { dtype: 'int4', granularity: g });
    const packed = new Uint8Array(Math.ceil(n / 2));
    referenceKernels.pack(codes as Int8Array, 4, packed);
    reader = NpyFileReader.open(file('p.npy', encodeNpy({ dtype: 'uint8', shape: [packed.length], data: packed })));
    const dq = collect();
    await dequantizeNpyFile(reader, dq, params, { packedShape: shape, chunkElements: 64 });
    reader.close();
    expect(decodeNpy(dq.bytes())).toEqual({ dtype: 'float32', shape, data: dequantize(codes, shape, params) });
  });

  it('names the first NaN by the file and its index in the shape [5, 37, 3], in a later chunk', async () => {
    const y = x.slice();
    y[300] = NaN;
    y[400] = NaN;
    const reader = NpyFileReader.open(file('nan.npy', encodeNpy({ dtype: 'float32', shape, data: y })));
    await expect(quantizeNpyFile(reader, collect(), { dtype: 'int8', granularity: GRANULARITIES[1], chunkElements: 64 })).rejects.toThrow(
      'nan.npy[2, 26, 0] is NaN (flat index 300)',
    );
    reader.close();
  });

  it('converts big-endian float64 per chunk', async () => {
    const x64 = Float64Array.from(x, (v) => v + 1e-9);
    const reader = NpyFileReader.open(file('be.npy', encodeNpy({ dtype: 'float64', shape, data: x64 }, { littleEndian: false })));
    expect(reader.isRawFloat32).toBe(false);
    const sink = collect();
    await quantizeNpyFile(reader, sink, { dtype: 'int8', chunkElements: 64 });
    reader.close();
    expect(decodeNpy(sink.bytes()).data).toEqual(quantize(Float32Array.from(x64), shape, { dtype: 'int8' }).codes);
  });
});

describe('quantizeNpyFile: buffers in WebAssembly memory, reads ahead, frees what it allocates', () => {
  const big = Float32Array.from({ length: 4096 }, (_, i) => Math.cos(i * 0.11) * 3);
  const bigFile = file('big.npy', encodeNpy({ dtype: 'float32', shape: [64, 64], data: big }));

  it('reads chunk k + 1 before chunk k is quantized, into WebAssembly memory, with the same codes', async () => {
    const reader = NpyFileReader.open(bigFile);
    const events: string[] = [];
    const inWasm: boolean[] = [];
    const read = reader.readFloat32Async.bind(reader);
    reader.readFloat32Async = (start, out) => {
      events.push(`read ${start / 1024}`);
      inWasm.push(isWasmArray(out));
      return read(start, out);
    };
    const local = createLocalRunner();
    const runner: ChunkRunner = {
      ...local,
      quantize: (x, layout, scale, zp, qmin, qmax, out, start) => {
        events.push(`quantize ${start / 1024}`);
        inWasm.push(isWasmArray(x), isWasmArray(out));
        return local.quantize(x, layout, scale, zp, qmin, qmax, out, start);
      },
    };
    const sink = collect();
    await quantizeNpyFile(reader, sink, { dtype: 'uint8', chunkElements: 1024, runner });
    reader.close();
    expect(decodeNpy(sink.bytes()).data).toEqual(quantize(big, [64, 64], { dtype: 'uint8' }).codes);
    // Pass 1 (range) reads 0..3, then pass 2 reads each next chunk before quantizing the current one.
    expect(events).toEqual(['read 0', 'read 1', 'read 2', 'read 3', 'read 0', 'read 1', 'quantize 0', 'read 2', 'quantize 1', 'read 3', 'quantize 2', 'quantize 3']);
    expect(inWasm.every(Boolean)).toBe(wasmZeroCopy());
  });

  it('frees its WebAssembly memory and closes the runner it made, also when it fails', async () => {
    const heap = wasmHeap();
    if (!heap) return; // no shared memory here: nothing lives in WebAssembly memory
    const run = async (path: string, opts: Parameters<typeof quantizeNpyFile>[2]) => {
      const reader = NpyFileReader.open(path);
      try {
        await quantizeNpyFile(reader, collect(), opts);
      } finally {
        reader.close();
      }
    };
    await run(bigFile, { dtype: 'uint8', chunkElements: 1024 }); // warm: the kernels' own scratch
    const used = heap.usedBytes;
    await run(bigFile, { dtype: 'int4', pack: true, chunkElements: 1024 });
    await run(bigFile, { dtype: 'int8', granularity: { kind: 'per-axis', axis: 0 }, chunkElements: 512 });
    expect(heap.usedBytes).toBe(used);
    const y = big.slice();
    y[3000] = NaN;
    const nan = file('nan-big.npy', encodeNpy({ dtype: 'float32', shape: [64, 64], data: y }));
    await expect(run(nan, { dtype: 'uint8', chunkElements: 1024 })).rejects.toThrow(`${nan}[46, 56] is NaN (flat index 3000)`);
    expect(heap.usedBytes).toBe(used);
    const reader = NpyFileReader.open(bigFile);
    const sink = collect();
    await fakeQuantizeNpyFile(reader, sink, { dtype: 'uint8', chunkElements: 1024 });
    reader.close();
    expect(decodeNpy(sink.bytes()).data).toEqual(fakeQuantize(big, [64, 64], { dtype: 'uint8' }).values);
    const codes = quantize(big, [64, 64], { dtype: 'uint8' });
    const dq = NpyFileReader.open(file('codes.npy', encodeNpy({ dtype: 'uint8', shape: [64, 64], data: codes.codes as Uint8Array })));
    await dequantizeNpyFile(dq, collect(), codes.params, { chunkElements: 1024 });
    dq.close();
    expect(heap.usedBytes).toBe(used);
  });
});
