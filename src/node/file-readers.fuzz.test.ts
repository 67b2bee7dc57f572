import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { StringStringEntryProtoSchema, TensorProtoSchema } from 'onnx-buf';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FUZZ, garbageOf, mutationOf, valueOrFileError } from '../../test/helpers/fuzz.js';
import { decodeNpy, NPY_DTYPES, toFloat32 } from '../formats/npy.js';
import { makeGraph, makeModel } from '../formats/onnx/builders.js';
import { encodeModel } from '../formats/onnx/model.js';
import { readTensor } from '../formats/onnx/tensor.js';
import { decodeSafetensors, SAFETENSORS_DTYPES } from '../formats/safetensors.js';
import { NpyFileReader } from './npy/npy-file-reader.js';
import { loadModel } from './onnx/onnx-file.js';
import { SafetensorsFileReader } from './safetensors/safetensors-file.js';

// Beyond vitest's 5 s default on a 2-core machine: this file is a seeded fuzz of hundreds of mutated files per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

/*
 * Property tests of the file readers the CLI uses, on hostile files: each opens a file (or refuses
 * it with MALFORMED_FILE or UNSUPPORTED naming it) and reads exactly what the in-memory decoder
 * reads from the same bytes; never another throw. ONNX external data is fuzzed through its
 * location, offset and length entries.
 */

const dir = mkdtempSync(join(tmpdir(), 'qk-fuzz-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FILE_CODES = ['MALFORMED_FILE', 'UNSUPPORTED'] as const;
const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

const NPY = new URL('../../test/fixtures/npy/', import.meta.url);
const npyFiles = (JSON.parse(readFileSync(new URL('manifest.json', NPY), 'utf8')) as { files: { file: string }[] }).files.map(
  (e) => new Uint8Array(readFileSync(new URL(e.file, NPY))),
);
const ST = new URL('../../test/fixtures/safetensors/', import.meta.url);
const stFiles = ['floats', 'ints', 'bf16', 'edge', 'unaligned', 'empty'].map((f) => new Uint8Array(readFileSync(new URL(`${f}.safetensors`, ST))));

function checkNpyFile(bytes: Uint8Array): void {
  const path = join(dir, 'x.npy');
  writeFileSync(path, bytes);
  const expected = valueOrFileError(() => {
    const a = decodeNpy(bytes);
    return NPY_DTYPES[a.dtype].components === 1 ? a : undefined;
  });
  const got = valueOrFileError(() => {
    const r = NpyFileReader.open(path);
    try {
      const whole = r.readFloat32(0, new Float32Array(r.size));
      const chunked = new Float32Array(r.size);
      for (let s = 0; s < r.size; s += 7) r.readFloat32(s, chunked.subarray(s, Math.min(r.size, s + 7)));
      const native = r.readNative(0, new NPY_DTYPES[r.header.dtype].ctor(r.size));
      expect(hex(chunked)).toBe(hex(whole));
      return { whole, native };
    } finally {
      r.close();
    }
  });
  if (expected === undefined) expect(got).toBeUndefined();
  else {
    expect(got).toBeDefined();
    expect(hex(got!.whole)).toBe(hex(toFloat32(expected)));
    expect(hex(got!.native)).toBe(hex(expected.data));
  }
}

function checkSafetensorsFile(bytes: Uint8Array): void {
  const path = join(dir, 'x.safetensors');
  writeFileSync(path, bytes);
  const expected = valueOrFileError(() => {
    const d = decodeSafetensors(bytes);
    return d.header.tensors.map((t) => hex(d.tensorBytes(t.name)));
  }, ['MALFORMED_FILE']);
  const got = valueOrFileError(() => {
    const r = SafetensorsFileReader.open(path);
    try {
      return r.header.tensors.map((t) => {
        if (SAFETENSORS_DTYPES[t.dtype].float) expect(r.readFloat32(t).length).toBe(t.shape.reduce((a, d) => a * d, 1));
        return hex(r.readBytes(t));
      });
    } finally {
      r.close();
    }
  }, ['MALFORMED_FILE']);
  expect(got).toEqual(expected);
}

describe('NpyFileReader on hostile files', () => {
  it(`mutated and garbage .npy files (${FUZZ.numRuns} runs): what decodeNpy reads, or a typed error`, () => {
    fc.assert(fc.property(fc.oneof(mutationOf(npyFiles), garbageOf(npyFiles)), checkNpyFile), FUZZ);
  });
});

describe('SafetensorsFileReader on hostile files', () => {
  it(`mutated and garbage .safetensors files (${FUZZ.numRuns} runs): what decodeSafetensors reads, or MALFORMED_FILE`, () => {
    fc.assert(fc.property(fc.oneof(mutationOf(stFiles), garbageOf(stFiles)), checkSafetensorsFile), FUZZ);
  });
});

/** A model whose one initializer lives in an external file, under entries as given. */
function externalModel(entries: Record<string, string>, dims: readonly bigint[] = [2n, 3n]): Uint8Array {
  const t = create(TensorProtoSchema, {
    name: 'w',
    dataType: 1,
    dims: [...dims],
    dataLocation: 1,
    externalData: Object.entries(entries).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return encodeModel(makeModel(makeGraph({ nodes: [], inputs: [], outputs: [], initializers: [t] }), { '': 17 }));
}

function checkModel(bytes: Uint8Array): void {
  const path = join(dir, 'm.onnx');
  writeFileSync(path, bytes);
  const model = valueOrFileError(() => loadModel(path), ['MALFORMED_FILE', 'UNSUPPORTED', 'IO_ERROR']);
  for (const t of model?.graph?.initializer ?? []) valueOrFileError(() => readTensor(t), ['MALFORMED_FILE', 'UNSUPPORTED', 'INVALID_ARGUMENT']);
}

describe('loadModel on hostile external data entries', () => {
  const data = Uint8Array.from({ length: 64 }, (_, i) => i * 3);
  writeFileSync(join(dir, 'm.data'), data);
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const location = fc.constantFrom('m.data', 'missing.data', '.', 'sub', 'sub/../m.data', '../m.data', '/etc/hostname', 'm.data\u0000', '', 'm.onnx', 'm.data\n');
  const number = fc.oneof(
    fc.integer({ min: 0, max: 80 }).map(String),
    fc.constantFrom('-1', '-0', '1e3', '0x10', ' 4', '', 'abc', '9007199254740993', '18446744073709551616', '4.5', 'Infinity'),
  );
  const entries = fc.record({ location, offset: number, length: number }, { requiredKeys: ['location'] });

  it(`any location, offset and length (${FUZZ.numRuns} runs): a model with the bytes, or a typed error naming the tensor`, () => {
    fc.assert(
      fc.property(entries, fc.constantFrom([2n, 3n], [6n], [0n], [16n], [100n]), (e, dims) => checkModel(externalModel(e as Record<string, string>, dims))),
      FUZZ,
    );
  });

  it(`mutated external-data models (${FUZZ.numRuns} runs)`, () => {
    const seeds = [externalModel({ location: 'm.data', offset: '8', length: '24' }), externalModel({ location: 'm.data' }, [16n])];
    fc.assert(fc.property(mutationOf(seeds), checkModel), FUZZ);
  });
});
