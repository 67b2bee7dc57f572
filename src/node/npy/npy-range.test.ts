import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy } from '../../formats/npy.js';
import { NpyFileReader } from './npy-file-reader.js';
import { forEachChunk } from './npy-range.js';

const dir = mkdtempSync(join(tmpdir(), 'quantkit-range-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const x = Float32Array.from({ length: 1000 }, (_, i) => i * 0.5 - 100);
const raw = join(dir, 'x.npy');
writeFileSync(raw, encodeNpy({ dtype: 'float32', shape: [10, 100], data: x }));
const converted = join(dir, 'x64.npy');
writeFileSync(converted, encodeNpy({ dtype: 'float64', shape: [1000], data: Float64Array.from(x) }, { littleEndian: false }));

describe('NpyFileReader.readFloat32Async', () => {
  it('reads the same values as readFloat32, raw or converted', async () => {
    for (const path of [raw, converted]) {
      const reader = NpyFileReader.open(path);
      const out = await reader.readFloat32Async(333, new Float32Array(500));
      expect(out).toEqual(x.subarray(333, 833));
      reader.close();
    }
  });

  it('rejects a range outside the array, and reads after close', async () => {
    const reader = NpyFileReader.open(raw);
    await expect(reader.readFloat32Async(900, new Float32Array(200))).rejects.toThrow('elements [900, 1100) are outside the array of 1000');
    reader.close();
    await expect(reader.readFloat32Async(0, new Float32Array(10))).rejects.toThrow('is closed');
  });
});

describe('forEachChunk', () => {
  it('with two buffers visits every chunk in order, alternating buffers, with the file values', async () => {
    const reader = NpyFileReader.open(raw);
    const a = new Float32Array(128);
    const b = new Float32Array(128);
    const seen: [number, Float32Array][] = [];
    const got = new Float32Array(1000);
    await forEachChunk(reader, [a, b], (chunk, start) => {
      seen.push([start, chunk.buffer === a.buffer ? a : b]);
      got.set(chunk, start);
    });
    reader.close();
    expect(got).toEqual(x);
    expect(seen.map(([s]) => s)).toEqual([0, 128, 256, 384, 512, 640, 768, 896]);
    expect(seen.map(([, buf]) => (buf === a ? 'a' : 'b')).join('')).toBe('abababab');
  });

  it('leaves no read in flight when a visit fails: it settles only after the read ahead lands', async () => {
    const reader = NpyFileReader.open(raw);
    const read = reader.readFloat32Async.bind(reader);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let landed = false;
    reader.readFloat32Async = async (start, out) => {
      if (start === 0) return read(start, out);
      await gate;
      const r = await read(start, out);
      landed = true;
      return r;
    };
    let settled = false;
    const run = forEachChunk(reader, [new Float32Array(256), new Float32Array(256)], () => {
      throw new Error('visit failed');
    }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    release();
    await expect(run).rejects.toThrow('visit failed');
    expect(landed).toBe(true);
    reader.close();
  });
});
