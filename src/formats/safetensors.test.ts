import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../test/helpers/quant-error.js';
import type { SafetensorsDtype, SafetensorsTensorSpec } from './safetensors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  encodeSafetensorsHeader,
  floatTensorToFloat32,
  parseSafetensorsHeader,
  SAFETENSORS_DTYPES,
  SAFETENSORS_MAX_HEADER,
  safetensorsHeaderSize,
  sortSafetensorsSpecs,
} from './safetensors.js';

const FIXTURES = new URL('../../test/fixtures/safetensors/', import.meta.url);

interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
  hex: string;
  values?: (number | boolean | string)[];
  float32Bits?: number[];
}
interface FileEntry {
  file: string;
  deterministic: boolean;
  size: number;
  dataStart: number;
  metadata: Record<string, string>;
  tensors: TensorEntry[];
}

const expected = JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as {
  files: FileEntry[];
  malformed: { file: string; referenceError: string }[];
};
const readFixture = (file: string): Uint8Array => new Uint8Array(readFileSync(new URL(file, FIXTURES)));
const hexOf = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const bitsOf = (f: Float32Array): number[] => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A file from a header text (no padding unless given) and data bytes. */
function fileOf(header: string, data: Uint8Array | number = 0): Uint8Array {
  const json = utf8(header);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** Integer values of a tensor's bytes, copied to an aligned buffer first. */
function intValues(dtype: SafetensorsDtype, bytes: Uint8Array): (number | boolean | string)[] {
  const b = bytes.slice().buffer;
  switch (dtype) {
    case 'BOOL':
      return Array.from(new Uint8Array(b), (x) => x !== 0);
    case 'U8':
      return Array.from(new Uint8Array(b));
    case 'I8':
      return Array.from(new Int8Array(b));
    case 'I32':
      return Array.from(new Int32Array(b));
    case 'I64':
      return Array.from(new BigInt64Array(b), String);
    default:
      throw new Error(`no integer view for ${dtype}`);
  }
}

const F32 = (xs: number[]): Uint8Array => bytesOf(new Float32Array(xs));

describe('decodeSafetensors against files the reference wrote', () => {
  it('covers the dtypes, a scalar, empty tensors, metadata, no tensors and an unaligned data buffer', () => {
    const all = expected.files.flatMap((f) => f.tensors);
    expect(new Set(all.map((t) => t.dtype))).toEqual(new Set(['F32', 'F16', 'F64', 'BF16', 'I8', 'U8', 'I32', 'I64', 'BOOL']));
    expect(all.some((t) => t.shape.length === 0) && all.some((t) => t.shape.includes(0))).toBe(true);
    expect(all.some((t) => t.name.includes('/')) && all.some((t) => t.name.includes('.'))).toBe(true);
    expect(expected.files.some((f) => Object.keys(f.metadata).length > 1)).toBe(true);
    expect(expected.files.some((f) => f.tensors.length === 0)).toBe(true);
    expect(expected.files.some((f) => f.dataStart % 2 === 1)).toBe(true);
  });

  for (const entry of expected.files) {
    it(`reads ${entry.file}`, () => {
      const bytes = readFixture(entry.file);
      expect(bytes.length).toBe(entry.size);
      const { header, tensorBytes } = decodeSafetensors(bytes);
      expect(header.dataStart).toBe(entry.dataStart);
      expect(header.metadata).toEqual(entry.metadata);
      expect(header.tensors.map(({ name, dtype, shape, begin, end }) => ({ name, dtype, shape, begin, end }))).toEqual(
        entry.tensors.map(({ name, dtype, shape, begin, end }) => ({ name, dtype, shape, begin, end })),
      );
      for (const t of entry.tensors) {
        const view = tensorBytes(t.name);
        expect(view.buffer).toBe(bytes.buffer);
        expect(hexOf(view)).toBe(t.hex);
        if (t.float32Bits !== undefined) expect(bitsOf(floatTensorToFloat32(t.dtype, view))).toEqual(t.float32Bits);
        if (t.values !== undefined) expect(intValues(t.dtype, view)).toEqual(t.values);
      }
    });
  }

  it('reads the header in pieces as a file reader would', () => {
    const bytes = readFixture('floats.safetensors');
    const n = safetensorsHeaderSize(bytes.subarray(0, 8), bytes.length);
    const header = parseSafetensorsHeader(bytes.slice(8, 8 + n), bytes.length);
    expect(header).toEqual(decodeSafetensors(bytes).header);
    expect(header.dataStart).toBe(8 + n);
  });

  it('names the tensors it has when asked for one it lacks', () => {
    const { tensorBytes } = decodeSafetensors(readFixture('floats.safetensors'));
    expectQuantError(() => tensorBytes('nope'), 'INVALID_ARGUMENT', /no tensor named 'nope' in this file \(it has 'lm_head.weight', /);
  });
});

describe('encodeSafetensors', () => {
  for (const entry of expected.files) {
    it(`re-encodes ${entry.file} readably${entry.deterministic ? ', byte for byte in the reference order' : ''}`, () => {
      const bytes = readFixture(entry.file);
      const { header, tensorBytes } = decodeSafetensors(bytes);
      const tensors = header.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: tensorBytes(t.name) }));
      const metadata = Object.keys(entry.metadata).length > 0 ? entry.metadata : undefined;
      const again = encodeSafetensors(sortSafetensorsSpecs(tensors), metadata);
      if (entry.deterministic) expect(hexOf(again)).toBe(hexOf(bytes));
      const back = decodeSafetensors(again);
      expect(back.header.dataStart % 8).toBe(0);
      expect(back.header.metadata).toEqual(entry.metadata);
      for (const t of tensors) {
        expect(back.header.tensors.find((x) => x.name === t.name)).toMatchObject({ dtype: t.dtype, shape: t.shape });
        expect(hexOf(back.tensorBytes(t.name))).toBe(hexOf(t.data));
      }
    });
  }

  it('lays tensors out in the given order, consecutively from 0, and pads the JSON with spaces to a multiple of 8', () => {
    for (let len = 1; len <= 16; len++) {
      const specs: SafetensorsTensorSpec[] = [
        { name: 'x'.repeat(len), dtype: 'I8', shape: [3] },
        { name: 'w', dtype: 'F32', shape: [2, 2] },
        { name: 'empty', dtype: 'F64', shape: [0, 5] },
        { name: 's', dtype: 'F16', shape: [] },
      ];
      const { bytes, offsets, dataLength } = encodeSafetensorsHeader(specs);
      expect(offsets).toEqual([{ begin: 0, end: 3 }, { begin: 3, end: 19 }, { begin: 19, end: 19 }, { begin: 19, end: 21 }]);
      expect(dataLength).toBe(21);
      expect(bytes.length % 8).toBe(0);
      const n = safetensorsHeaderSize(bytes, bytes.length + dataLength);
      expect(n).toBe(bytes.length - 8);
      const text = new TextDecoder().decode(bytes.subarray(8));
      expect(text.trimEnd().endsWith('}')).toBe(true);
      expect(text.length - text.trimEnd().length).toBe((8 - (text.trimEnd().length % 8)) % 8);
      expect(Object.keys(JSON.parse(text) as object)).toEqual(specs.map((s) => s.name));
    }
  });

  it('gives the example of its documentation', () => {
    const { bytes, offsets, dataLength } = encodeSafetensorsHeader([{ name: 'a', dtype: 'F32', shape: [2] }]);
    expect(bytes.length - 8).toBe(56);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([56, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(bytes.subarray(8 + 53))).toEqual([0x7d, 0x20, 0x20]);
    expect(offsets).toEqual([{ begin: 0, end: 8 }]);
    expect(dataLength).toBe(8);
  });

  it('writes __metadata__ first, also when it is empty, as the reference does', () => {
    const spec: SafetensorsTensorSpec[] = [{ name: 'a', dtype: 'F32', shape: [1] }];
    const text = (m?: Record<string, string>): string => new TextDecoder().decode(encodeSafetensorsHeader(spec, m).bytes.subarray(8)).trimEnd();
    expect(text({})).toBe('{"__metadata__":{},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    expect(text({ k: 'v' })).toBe('{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    expect(text()).toBe('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
  });

  it('escapes names and metadata as the reference JSON writer does', () => {
    const bytes = encodeSafetensors([{ name: 'q"\\\n\u0001é\u2028/', dtype: 'U8', shape: [1], data: new Uint8Array([7]) }], { 'k\t': 'é\u007f' });
    const text = new TextDecoder().decode(bytes.subarray(8, bytes.length - 1)).trimEnd();
    expect(text).toBe('{"__metadata__":{"k\\t":"é\u007f"},"q\\"\\\\\\n\\u0001é\u2028/":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}');
    expect(decodeSafetensors(bytes).header.tensors[0].name).toBe('q"\\\n\u0001é\u2028/');
  });

  it('round-trips any tensors in any order', () => {
    const dtypes = Object.keys(SAFETENSORS_DTYPES) as SafetensorsDtype[];
    const tensor = fc.record({
      name: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__' && !/\p{Cs}/u.test(s)),
      dtype: fc.constantFrom(...dtypes),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    });
    const metadata = fc.option(fc.dictionary(fc.string({ maxLength: 6 }).filter((s) => !/\p{Cs}/u.test(s)), fc.string({ maxLength: 6 }).filter((s) => !/\p{Cs}/u.test(s))), { nil: undefined });
    fc.assert(
      fc.property(fc.uniqueArray(tensor, { selector: (t) => t.name, maxLength: 6 }), metadata, (specs, meta) => {
        const tensors = specs.map((s, i) => {
          const n = s.shape.reduce((a, d) => a * d, SAFETENSORS_DTYPES[s.dtype].bytes);
          return { ...s, data: Uint8Array.from({ length: n }, (_, j) => (i * 31 + j) & 0xff) };
        });
        const bytes = encodeSafetensors(tensors, meta);
        const { header, tensorBytes } = decodeSafetensors(bytes);
        expect(header.dataStart % 8).toBe(0);
        expect({ ...header.metadata }).toEqual(meta ?? {});
        expect(header.tensors.length).toBe(tensors.length);
        for (const t of tensors) {
          expect(header.tensors.find((x) => x.name === t.name)).toMatchObject({ dtype: t.dtype, shape: t.shape });
          expect(tensorBytes(t.name)).toEqual(t.data);
        }
      }),
      { numRuns: 150, seed: 7 },
    );
  });

  it('refuses bad specs, metadata and data with INVALID_ARGUMENT', () => {
    const ok: SafetensorsTensorSpec = { name: 'a', dtype: 'F32', shape: [2] };
    const bad = (specs: unknown[], m?: unknown): unknown =>
      encodeSafetensorsHeader(specs as SafetensorsTensorSpec[], m as Record<string, string> | undefined);
    expectQuantError(() => bad([{ ...ok, name: '' }]), 'INVALID_ARGUMENT', /tensor 0: name must be a non-empty string, got ""/);
    expectQuantError(() => bad([{ ...ok, name: 3 }]), 'INVALID_ARGUMENT', /name must be a non-empty string, got 3/);
    expectQuantError(() => bad([ok, { ...ok }]), 'INVALID_ARGUMENT', /tensor 'a' is given more than once/);
    expectQuantError(() => bad([{ ...ok, name: '__metadata__' }]), 'INVALID_ARGUMENT', /'__metadata__' is the header's metadata key/);
    expectQuantError(() => bad([{ ...ok, name: 'x\uD800' }]), 'INVALID_ARGUMENT', /lone UTF-16 surrogate/);
    expectQuantError(() => bad([{ ...ok, dtype: 'F4' }]), 'INVALID_ARGUMENT', /tensor 'a': unknown dtype "F4" \(known: BOOL, U8, /);
    expectQuantError(() => bad([{ ...ok, shape: [-1] }]), 'INVALID_ARGUMENT', /shape must be an array of non-negative integers, got \[-1\]/);
    expectQuantError(() => bad([{ ...ok, shape: [1.5] }]), 'INVALID_ARGUMENT', /got \[1\.5\]/);
    expectQuantError(() => bad([{ ...ok, shape: [NaN] }]), 'INVALID_ARGUMENT', /got \[null\]/);
    expectQuantError(() => bad([{ ...ok, shape: 2 }]), 'INVALID_ARGUMENT', /got 2/);
    expectQuantError(() => bad([{ ...ok, shape: [2 ** 30, 2 ** 30, 2 ** 30] }]), 'INVALID_ARGUMENT', /F32 \[1073741824, 1073741824, 1073741824\] would need more than 2\^53 bytes/);
    expectQuantError(() => bad([ok], { k: 1 }), 'INVALID_ARGUMENT', /metadata 'k' must be a string, got 1/);
    expectQuantError(() => bad([ok], ['x']), 'INVALID_ARGUMENT', /metadata must be an object of strings, got \["x"\]/);
    expectQuantError(() => bad([ok], { k: '\uDC00' }), 'INVALID_ARGUMENT', /metadata 'k' "\\udc00" has a lone UTF-16 surrogate/);
    expectQuantError(
      () => bad([{ name: 'p', dtype: 'U8', shape: [2 ** 52] }, { name: 'q', dtype: 'U8', shape: [2 ** 52] }]),
      'INVALID_ARGUMENT',
      /the tensors need 9007199254740992 bytes in all, more than 2\^53/,
    );
    expectQuantError(() => encodeSafetensors([{ ...ok, data: new Uint8Array(7) }]), 'INVALID_ARGUMENT', /tensor 'a': data has 7 bytes, but F32 \[2\] needs 8/);
    expectQuantError(
      () => encodeSafetensors([{ ...ok, data: new Float32Array(2) as unknown as Uint8Array }]),
      'INVALID_ARGUMENT',
      /tensor 'a': data must be a Uint8Array/,
    );
  });

  it('refuses a header longer than readers accept', () => {
    const long = 'x'.repeat(1_000_000);
    const specs = Array.from({ length: 101 }, (_, i): SafetensorsTensorSpec => ({ name: `${i}${long}`, dtype: 'U8', shape: [0] }));
    expectQuantError(() => encodeSafetensorsHeader(specs), 'INVALID_ARGUMENT', /the header would be more than 100000000 bytes, more than the 100000000 safetensors readers accept/);
    const metadata = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, long]));
    expectQuantError(() => encodeSafetensorsHeader([], metadata), 'INVALID_ARGUMENT', /the header would be more than 100000000 bytes/);
  });
});

describe('sortSafetensorsSpecs', () => {
  it('orders as the reference writer does: widest dtype first in its enum order, then by name', () => {
    for (const entry of expected.files.filter((f) => f.deterministic && f.file !== 'unaligned.safetensors')) {
      const { header } = decodeSafetensors(readFixture(entry.file));
      const shuffled = [...header.tensors].reverse();
      expect(sortSafetensorsSpecs(shuffled).map((t) => t.name)).toEqual(header.tensors.map((t) => t.name));
    }
    const all = (Object.keys(SAFETENSORS_DTYPES) as SafetensorsDtype[]).map((dtype) => ({ name: dtype, dtype, shape: [1] }));
    // As safetensors 0.8 writes them (the dtypes it knows beyond these left out).
    expect(sortSafetensorsSpecs(all).map((t) => t.dtype)).toEqual(
      ['U64', 'I64', 'F64', 'F32', 'U32', 'I32', 'BF16', 'F16', 'U16', 'I16', 'F8_E4M3', 'F8_E5M2', 'I8', 'U8', 'BOOL'],
    );
  });

  it('compares names by code point (UTF-8 byte order), not by UTF-16 unit', () => {
    const specs = ['\u{10000}', '\uE000', 'b', 'B', 'a.b', 'a'].map((name): SafetensorsTensorSpec => ({ name, dtype: 'U8', shape: [] }));
    expect(sortSafetensorsSpecs(specs).map((s) => s.name)).toEqual(['B', 'a', 'a.b', 'b', '\uE000', '\u{10000}']);
  });

  it('keeps every tensor aligned to its element size', () => {
    const specs: SafetensorsTensorSpec[] = [
      { name: 'a', dtype: 'U8', shape: [3] },
      { name: 'b', dtype: 'F16', shape: [3] },
      { name: 'c', dtype: 'F64', shape: [1] },
      { name: 'd', dtype: 'F32', shape: [1] },
    ];
    const sorted = sortSafetensorsSpecs(specs);
    const { offsets } = encodeSafetensorsHeader(sorted);
    sorted.forEach((s, i) => expect(offsets[i].begin % SAFETENSORS_DTYPES[s.dtype].bytes).toBe(0));
  });
});

describe('files from other writers', () => {
  it('reads data at any alignment: a file at an odd offset of a larger buffer', () => {
    const file = encodeSafetensors([
      { name: 'h', dtype: 'F16', shape: [1], data: new Uint8Array([0x00, 0x3c]) },
      { name: 'f', dtype: 'F32', shape: [2], data: F32([1.5, -2]) },
      { name: 'd', dtype: 'F64', shape: [1], data: bytesOf(new Float64Array([0.1])) },
    ]);
    const host = new Uint8Array(file.length + 3);
    host.set(file, 3);
    const { header, tensorBytes } = decodeSafetensors(host.subarray(3));
    expect(tensorBytes('f').byteOffset % 4).not.toBe(0);
    expect(Array.from(floatTensorToFloat32('F32', tensorBytes('f')))).toEqual([1.5, -2]);
    expect(Array.from(floatTensorToFloat32('F64', tensorBytes('d')))).toEqual([Math.fround(0.1)]);
    expect(Array.from(floatTensorToFloat32('F16', tensorBytes('h')))).toEqual([1]);
    expect(header.tensors.map((t) => t.name)).toEqual(['h', 'f', 'd']);
  });

  it('sorts tensors by begin whatever their order in the JSON, empty ones included', () => {
    const header = '{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"z":{"dtype":"I8","shape":[0],"data_offsets":[4,4]},'
      + '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F64","shape":[0,2],"data_offsets":[8,8]}}';
    const { header: h } = decodeSafetensors(fileOf(header, 8));
    expect(h.tensors.map((t) => [t.name, t.begin, t.end])).toEqual([['a', 0, 4], ['z', 4, 4], ['b', 4, 8], ['e', 8, 8]]);
  });

  it('accepts what the reference accepts: whitespace around the JSON, extra fields, null metadata, an empty name', () => {
    const t = '{"dtype":"F32","shape":[1],"data_offsets":[0,4],"note":[1,{"x":2}]}';
    for (const header of [` \n{"a":${t}}`, `{"a":${t}}\n\t `, `{"__metadata__":null,"a":${t}}`, `{"":${t}}`]) {
      const { header: h } = decodeSafetensors(fileOf(header, 4));
      expect(h.tensors.length).toBe(1);
      expect(h.metadata).toEqual({});
    }
  });
});

const MALFORMED: Record<string, RegExp> = {
  'too-short': /not a safetensors file: it has 4 bytes, fewer than the 8 of its header size field/,
  'header-too-large': /header size 100000001 is more than the 100000000 bytes a safetensors header may have/,
  'header-past-end': /header size 1000 needs a file of at least 1008 bytes, but the file has 10/,
  'header-empty': /header is not valid JSON \(0 bytes\)/,
  'not-json': /header is not valid JSON \(53 bytes\): .*position 53/,
  'not-utf8': /header is not valid UTF-8/,
  'byte-order-mark': /header is not valid JSON/,
  'not-an-object': /header must be a JSON object, got \[1,2\]/,
  'tensor-not-an-object': /tensor 'a': expected an object with dtype, shape and data_offsets, got \[1\]/,
  'unknown-dtype': /tensor 'a': unknown dtype 'Q4' \(known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64\)/,
  'missing-shape': /tensor 'a': shape must be an array of non-negative integers, got nothing/,
  'negative-dim': /tensor 'a': shape must be an array of non-negative integers, got \[-1\]/,
  'fractional-dim': /tensor 'a': shape must be an array of non-negative integers, got \[1\.5\]/,
  'three-offsets': /tensor 'a': data_offsets must be \[begin, end\], two non-negative integers, got \[0,4,4\]/,
  'end-before-begin': /tensor 'a': data_offsets \[8, 4\] end before they begin/,
  'size-mismatch': /tensor 'w': data_offsets \[0, 12\] hold 12 bytes, but F32 \[2, 2\] needs 16/,
  'first-not-at-zero': /tensor 'a': data_offsets \[4, 8\] leave a hole: the first tensor must begin at 0/,
  hole: /tensor 'b': data_offsets \[8, 12\] leave a hole of 4 bytes after tensor 'a', which ends at 4/,
  overlap: /tensor 'b': data_offsets \[4, 8\] overlap tensor 'a' \[0, 8\]/,
  'trailing-bytes': /the tensors end at byte 4 of the data buffer, but it holds 6 bytes: 2 trailing bytes/,
  'past-the-end': /tensor 'a': data_offsets \[0, 8\] end past the data buffer, which holds 4 bytes/,
  'metadata-not-string': /header: __metadata__ 'k' must be a string, got 1/,
};

describe('malformed files', () => {
  it('has a check for every malformed fixture the reference refuses', () => {
    expect(expected.malformed.map((m) => m.file).sort()).toEqual(Object.keys(MALFORMED).map((k) => `malformed/${k}.safetensors`).sort());
  });

  for (const [name, message] of Object.entries(MALFORMED)) {
    it(`refuses ${name} with one line naming the problem`, () => {
      expectQuantError(() => decodeSafetensors(readFixture(`malformed/${name}.safetensors`)), 'MALFORMED_FILE', message);
    });
  }

  it('refuses duplicate keys, which JSON.parse would silently merge (the reference keeps the last)', () => {
    const t = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    expectQuantError(() => decodeSafetensors(fileOf(`{"a":${t},"a":${t}}`, 4)), 'MALFORMED_FILE', /header: the key 'a' appears more than once/);
    expectQuantError(
      () => decodeSafetensors(fileOf(`{"__metadata__":{},"a\\u0062":${t},"ab":${t}}`, 4)),
      'MALFORMED_FILE',
      /the key 'ab' appears more than once/,
    );
    // Keys of nested objects and strings holding braces, commas and escaped quotes are not top-level keys.
    const tricky = `{"__metadata__":{"x":"}{,\\"y\\":","y":"{\\"a\\":1}"},"a":${t}}`;
    expect(decodeSafetensors(fileOf(tricky, 4)).header.metadata).toEqual({ x: '}{,"y":', y: '{"a":1}' });
  });

  it('refuses dtypes it does not know, newer ones included, rather than guess their size', () => {
    for (const dtype of ['F4', 'F8_E8M0', 'C64', 'f32']) {
      const file = fileOf(`{"a":{"dtype":"${dtype}","shape":[2],"data_offsets":[0,1]}}`, 1);
      expectQuantError(() => decodeSafetensors(file), 'MALFORMED_FILE', new RegExp(`tensor 'a': unknown dtype '${dtype}' \\(known: BOOL, `));
    }
    expectQuantError(() => decodeSafetensors(fileOf('{"a":{"dtype":3,"shape":[],"data_offsets":[0,1]}}', 1)), 'MALFORMED_FILE', /tensor 'a': dtype must be a string, got 3/);
  });

  it('refuses other broken headers', () => {
    const t = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    expectQuantError(() => decodeSafetensors(fileOf(`{"__metadata__":["x"],"a":${t}}`, 4)), 'MALFORMED_FILE', /__metadata__ must be an object of strings, got \["x"\]/);
    expectQuantError(() => decodeSafetensors(fileOf('"text"')), 'MALFORMED_FILE', /header must be a JSON object, got "text"/);
    expectQuantError(() => decodeSafetensors(fileOf('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,"1"]}}', 1)), 'MALFORMED_FILE', /got \[0,"1"\]/);
    expectQuantError(
      () => decodeSafetensors(fileOf('{"a":{"dtype":"U8","shape":[9007199254740992],"data_offsets":[0,1]}}', 1)),
      'MALFORMED_FILE',
      /shape must be an array of non-negative integers, got \[9007199254740992\]/,
    );
    expectQuantError(
      () => decodeSafetensors(fileOf('{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,1]}}', 1)),
      'MALFORMED_FILE',
      /tensor 'a': F64 \[4294967296, 4294967296\] would need more than 2\^53 bytes/,
    );
    // An empty tensor placed past the data is a hole, as in the reference.
    expectQuantError(
      () => decodeSafetensors(fileOf(`{"a":${t},"e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}`, 4)),
      'MALFORMED_FILE',
      /tensor 'e': data_offsets \[8, 8\] leave a hole of 4 bytes after tensor 'a', which ends at 4/,
    );
    expectQuantError(() => decodeSafetensors(fileOf('{}', 3)), 'MALFORMED_FILE', /the tensors end at byte 0 of the data buffer, but it holds 3 bytes: 3 trailing bytes/);
  });

  it('checks the header size field against the limit and the file', () => {
    const first8 = (lo: number, hi = 0): Uint8Array => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setUint32(0, lo, true);
      new DataView(b.buffer).setUint32(4, hi, true);
      return b;
    };
    expect(safetensorsHeaderSize(first8(SAFETENSORS_MAX_HEADER), 8 + SAFETENSORS_MAX_HEADER)).toBe(SAFETENSORS_MAX_HEADER);
    expect(safetensorsHeaderSize(first8(16), 24)).toBe(16);
    expectQuantError(() => safetensorsHeaderSize(first8(16), 23), 'MALFORMED_FILE', /header size 16 needs a file of at least 24 bytes, but the file has 23/);
    expectQuantError(() => safetensorsHeaderSize(first8(0xffffffff, 0xffffffff), 100), 'MALFORMED_FILE', /header size 18446744073709551615 is more than/);
    expectQuantError(() => safetensorsHeaderSize(first8(0, 1), 100), 'MALFORMED_FILE', /header size 4294967296 is more than/);
    expectQuantError(() => safetensorsHeaderSize(new Uint8Array(4), 100), 'INVALID_ARGUMENT', /first8 must hold the file's first 8 bytes, got 4/);
    expectQuantError(() => safetensorsHeaderSize(first8(2), -1), 'INVALID_ARGUMENT', /fileSize must be a non-negative integer, got -1/);
    expectQuantError(() => parseSafetensorsHeader(utf8('{}'), 9), 'MALFORMED_FILE', /header size 2 needs a file of at least 10 bytes, but the file has 9/);
    expectQuantError(() => parseSafetensorsHeader(utf8('{}'), 1.5), 'INVALID_ARGUMENT', /fileSize must be a non-negative integer, got 1.5/);
  });
});

describe('floatTensorToFloat32', () => {
  it('widens F16 exactly: subnormals, the largest finite, infinities, NaN, signed zero', () => {
    const halves = [0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3c00, 0x7d00];
    const out = floatTensorToFloat32('F16', bytesOf(new Uint16Array(halves)));
    expect(Array.from(out.subarray(0, 9))).toEqual([2 ** -24, 1023 * 2 ** -24, 2 ** -14, 65504, Infinity, -Infinity, NaN, -0, 1]);
    expect(Object.is(out[7], -0)).toBe(true);
    expect(bitsOf(out)[6]).toBe(0x7fc00000);
    expect(bitsOf(out)[9]).toBe(0x7fe00000); // signalling NaN comes out quiet with its payload
  });

  it('widens BF16 by shifting the bits into the top half', () => {
    const out = floatTensorToFloat32('BF16', new Uint8Array([0x80, 0x3f, 0x20, 0xc0, 0x01, 0x00, 0x80, 0x7f, 0xc0, 0xff]));
    expect(Array.from(out)).toEqual([1, -2.5, 2 ** -133, Infinity, NaN]);
    expect(bitsOf(out)[4]).toBe(0xffc00000);
  });

  it('copies F32 bit for bit, NaN payloads included', () => {
    const bits = new Uint32Array([0x7f800001, 0xffc12345, 0x00000001, 0x80000000, 0x3f800000]);
    expect(bitsOf(floatTensorToFloat32('F32', bytesOf(bits)))).toEqual(Array.from(bits));
  });

  it('rounds F64 to the nearest float32, ties to even, as numpy does', () => {
    const values = [1 + 2 ** -24, 1 + 3 * 2 ** -24, 0.1, 1e-46, 1e-45, 2 ** -150, 3 * 2 ** -150, 3.5e38, 3.4028235677973366e38, -1e-50];
    const out = floatTensorToFloat32('F64', bytesOf(new Float64Array(values)));
    expect(Array.from(out)).toEqual([1, 1 + 2 ** -22, Math.fround(0.1), 0, 2 ** -149, 0, 2 ** -148, Infinity, Infinity, -0]);
    expect(Object.is(out[9], -0)).toBe(true);
    const nan = new Uint8Array(8);
    new DataView(nan.buffer).setBigUint64(0, 0xfff02468a0000001n, true);
    expect(bitsOf(floatTensorToFloat32('F64', nan))).toEqual([0xffc12345]);
  });

  it('reuses out and checks its length', () => {
    const out = new Float32Array(2);
    expect(floatTensorToFloat32('F32', F32([3, 4]), out)).toBe(out);
    expect(Array.from(out)).toEqual([3, 4]);
    expect(floatTensorToFloat32('F16', new Uint8Array([0x00, 0x40, 0x00, 0xc0]), out)).toBe(out);
    expect(Array.from(out)).toEqual([2, -2]);
    const shared = new Float32Array(6);
    floatTensorToFloat32('BF16', new Uint8Array([0x80, 0x3f]), shared.subarray(5));
    expect(Array.from(shared)).toEqual([0, 0, 0, 0, 0, 1]);
    expectQuantError(() => floatTensorToFloat32('F32', F32([1, 2, 3]), out), 'INVALID_ARGUMENT', /out has 2 elements, but 12 bytes of F32 hold 3/);
  });

  it('refuses non-float dtypes and partial elements', () => {
    for (const dtype of ['I8', 'U8', 'BOOL', 'I32', 'I64', 'F8_E4M3', 'F8_E5M2'] as const) {
      expectQuantError(() => floatTensorToFloat32(dtype, new Uint8Array(8)), 'UNSUPPORTED', new RegExp(`reads F16, BF16, F32 and F64, not ${dtype}$`));
    }
    expectQuantError(() => floatTensorToFloat32('F64', new Uint8Array(12)), 'INVALID_ARGUMENT', /12 bytes is not a whole number of F64 elements \(8 bytes each\)/);
    expectQuantError(() => floatTensorToFloat32('X' as SafetensorsDtype, new Uint8Array(4)), 'INVALID_ARGUMENT', /unknown dtype "X"/);
    expect(floatTensorToFloat32('F16', new Uint8Array(0)).length).toBe(0);
  });
});

describe('SAFETENSORS_DTYPES', () => {
  it('has the sizes of the format and marks the dtypes floatTensorToFloat32 reads', () => {
    const bytes = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [k, v.bytes]));
    expect(bytes).toEqual({ BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8 });
    expect(Object.entries(SAFETENSORS_DTYPES).filter(([, v]) => v.float).map(([k]) => k).sort()).toEqual(['BF16', 'F16', 'F32', 'F64']);
  });
});
