import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFileReader } from './safetensors-file.js';

const FIXTURES = resolve(__dirname, '../../../test/fixtures/safetensors');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  files: { file: string; dataStart: number; metadata: Record<string, string>; tensors: { name: string; dtype: string; shape: number[]; hex: string; float32Bits?: number[] }[] }[];
};
const dir = mkdtempSync(join(tmpdir(), 'quantkit-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SafetensorsFileReader', () => {
  // Files the reference (Hugging Face's safetensors) wrote, read tensor by tensor from disk.
  for (const f of expected.files) {
    it(`reads ${f.file} as the reference wrote it`, () => {
      const r = SafetensorsFileReader.open(join(FIXTURES, f.file));
      try {
        expect(r.header.dataStart).toBe(f.dataStart);
        expect(r.header.metadata).toEqual(f.metadata);
        for (const t of f.tensors) {
          const info = r.tensor(t.name);
          expect([info.dtype, info.shape]).toEqual([t.dtype, t.shape]);
          expect(Buffer.from(r.readBytes(info)).toString('hex')).toBe(t.hex);
          if (t.float32Bits) expect(Array.from(new Uint32Array(r.readFloat32(info).buffer))).toEqual(t.float32Bits);
        }
      } finally {
        r.close();
      }
    });
  }

  it('names the file in errors: not safetensors, truncated, a missing tensor, reading after close', () => {
    const tiny = join(dir, 'tiny.safetensors');
    writeFileSync(tiny, new Uint8Array([1, 2, 3]));
    expect(() => SafetensorsFileReader.open(tiny)).toThrow(/^'.*tiny\.safetensors': not a safetensors file: it has only 3 bytes/);
    const bytes = readFileSync(join(FIXTURES, expected.files[0]!.file));
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 1));
    expect(() => SafetensorsFileReader.open(cut)).toThrow(/cut\.safetensors/);
    expect(() => SafetensorsFileReader.open(join(dir, 'missing.safetensors'))).toThrow(/cannot read '.*missing\.safetensors'/);
    const r = SafetensorsFileReader.open(join(FIXTURES, expected.files[0]!.file));
    expect(() => r.tensor('nope')).toThrow(/has no tensor 'nope'/);
    const first = r.tensor(expected.files[0]!.tensors[0]!.name);
    r.close();
    expect(() => r.readBytes(first)).toThrow(/already closed/);
  });
});
