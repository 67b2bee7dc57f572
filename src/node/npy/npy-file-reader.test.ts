import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NPY_DTYPES, type NpyDtype } from '../../formats/npy.js';
import { NpyFileReader } from './npy-file-reader.js';

const FIXTURES = new URL('../../../test/fixtures/npy/', import.meta.url);
interface Entry {
  file: string;
  dtype: NpyDtype;
  shape: number[];
  hex: string;
  float32Hex: string | null;
}
const manifest = JSON.parse(readFileSync(new URL('manifest.json', FIXTURES), 'utf8')) as { files: Entry[] };
const hexOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

function withReader<T>(file: string, work: (r: NpyFileReader) => T): T {
  const r = NpyFileReader.open(fileURLToPath(new URL(file, FIXTURES)));
  try {
    return work(r);
  } finally {
    r.close();
  }
}

describe('NpyFileReader against numpy-written files', () => {
  // Every real file: both byte orders, both memory orders, aligned and odd data offsets, bools.
  const cases = manifest.files.filter((e) => e.float32Hex !== null);
  for (const e of cases) {
    it(`${e.file}: float32 and native values in chunks of 1, 4 and all equal numpy's`, () => {
      withReader(e.file, (r) => {
        for (const chunk of [1, 4, Math.max(1, r.size)]) {
          const f32 = new Float32Array(r.size);
          const native = new NPY_DTYPES[e.dtype].ctor(r.size);
          for (let start = 0; start < r.size; start += chunk) {
            const n = Math.min(chunk, r.size - start);
            // Chunks land at odd element offsets of the caller's buffers.
            r.readFloat32(start, f32.subarray(start, start + n));
            r.readNative(start, native.subarray(start, start + n));
          }
          expect(hexOf(f32)).toBe(e.float32Hex);
          expect(hexOf(native)).toBe(e.hex);
        }
      });
    });
  }

  it('reads bool bytes 9, 255 and 2 as True (1), as numpy and decodeNpy do', () => {
    withReader('unaligned/bool-bytes.npy', (r) => {
      expect(Array.from(r.readFloat32(0, new Float32Array(6)))).toEqual([0, 1, 1, 1, 1, 0]);
      expect(Array.from(r.readNative(0, new Uint8Array(6)) as Uint8Array)).toEqual([0, 1, 1, 1, 1, 0]);
    });
  });
});
