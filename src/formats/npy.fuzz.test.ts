import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containsSentinel, viewAt } from '../../test/helpers/buffer-views.js';
import { FUZZ, garbageOf, mutationOf, valueOrFileError } from '../../test/helpers/fuzz.js';
import { decodeNpy, npyHeaderBytesNeeded, parseNpyHeader, toFloat32, type NpyArray } from './npy.js';

/*
 * Property tests of the .npy reader on hostile bytes: every input gives an array or a
 * QuantError (MALFORMED_FILE or UNSUPPORTED) with a one-line message, never another throw; the
 * same bytes decode the same from a fresh array and from a Buffer view at an odd offset inside
 * sentinel bytes (so nothing is read outside the view); the caller's bytes are never written.
 */

const FIXTURES = new URL('../../test/fixtures/npy/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', FIXTURES), 'utf8')) as { files: { file: string }[] };
const files = manifest.files.map((e) => new Uint8Array(readFileSync(new URL(e.file, FIXTURES))));

const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
const summary = (a: NpyArray | undefined) => (a === undefined ? 'error' : `${a.dtype} [${a.shape.join(',')}] ${hex(a.data)}`);

/** decodeNpy of bytes, checked against itself from a sentinel-surrounded view at `offset`. */
function checkDecode(bytes: Uint8Array, offset: number): void {
  const fresh = valueOrFileError(() => decodeNpy(Uint8Array.from(bytes)));
  const view = viewAt(bytes, offset);
  const before = Buffer.from(view);
  const viewed = valueOrFileError(() => decodeNpy(view));
  expect(summary(viewed)).toBe(summary(fresh));
  expect(before.equals(view)).toBe(true);
  if (viewed !== undefined) {
    if (containsSentinel(viewed.data)) expect(containsSentinel(bytes)).toBe(true);
    valueOrFileError(() => toFloat32(viewed));
  }
}

/** A header dict as a writer might (mis)spell it, with any descr, order and shape. */
const dim = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 5 }).map(String) },
  { weight: 2, arbitrary: fc.constantFrom('2**31', '2147483648', '4294967296', '9007199254740991', '9007199254740992', '9223372036854775807', '18446744073709551616', '-1', '-0', '0L', '3L', '1e3', '1.0', "'2'", 'None', '(2,)', '0x10', '+4', '0' + '0'.repeat(50) + '1') },
);
const descr = fc.constantFrom("'<f4'", "'>f4'", "'|b1'", "'<f2'", "'>f8'", "'<i8'", "'>u8'", "'<c8'", "'>c16'", "'|u1'", "'=i2'", "'f4'", "'<U8'", "'O'", "'<f4 '", "'<f\\n4'", "'\\x00'", "'<f16'", "[('a', '<f4')]", "''", '4', 'None');
const fortran = fc.constantFrom('True', 'False', '1', 'None', "'False'");
const headerText = fc
  .tuple(descr, fortran, fc.array(dim, { maxLength: 40 }), fc.constantFrom(', }', '}', ',}', ", 'x': 1}", ', "descr": 1}'), fc.boolean())
  .map(([d, f, dims, close, reorder]) => {
    const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
    const parts = [`'descr': ${d}`, `'fortran_order': ${f}`, `'shape': ${shape}`];
    if (reorder) parts.reverse();
    return `{${parts.join(', ')}${close}`;
  });
const handmade = fc
  .tuple(headerText, fc.constantFrom(1, 2, 3), fc.integer({ min: -3, max: 70 }), fc.nat({ max: 600 }), fc.uint8Array({ maxLength: 0 }))
  .map(([text, version, pad, dataBytes]) => {
    const body = new TextEncoder().encode(text + ' '.repeat(Math.max(0, pad)) + '\n');
    const field = version === 1 ? 2 : 4;
    const declared = Math.max(0, body.length + Math.min(0, pad));
    const out = new Uint8Array(8 + field + body.length + dataBytes);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    const view = new DataView(out.buffer);
    if (field === 2) view.setUint16(8, Math.min(declared, 0xffff), true);
    else view.setUint32(8, declared, true);
    out.set(body, 8 + field);
    for (let i = 8 + field + body.length; i < out.length; i++) out[i] = (i * 37) & 0xff;
    return out;
  });

describe('decodeNpy and parseNpyHeader on hostile bytes', () => {
  it(`mutated numpy files (${FUZZ.numRuns} runs): an array or a typed error, the same from any view`, () => {
    fc.assert(
      fc.property(mutationOf(files), fc.integer({ min: 1, max: 15 }), (bytes, offset) => checkDecode(bytes, offset)),
      FUZZ,
    );
  });

  it(`random bytes and files cut into garbage (${FUZZ.numRuns} runs)`, () => {
    fc.assert(
      fc.property(garbageOf(files), fc.integer({ min: 1, max: 15 }), (bytes, offset) => {
        checkDecode(bytes, offset);
        const h = valueOrFileError(() => parseNpyHeader(viewAt(bytes, offset)));
        if (h !== undefined) {
          expect(h.dataOffset).toBeLessThanOrEqual(bytes.length);
          expect(Number.isSafeInteger(h.dataBytes)).toBe(true);
        }
        valueOrFileError(() => npyHeaderBytesNeeded(viewAt(bytes.subarray(0, 12), offset)));
      }),
      FUZZ,
    );
  });

  it(`handmade headers: any descr, order and shape, huge and odd dims, wrong lengths (${2 * FUZZ.numRuns} runs)`, () => {
    fc.assert(
      fc.property(handmade, fc.integer({ min: 1, max: 15 }), (bytes, offset) => checkDecode(bytes, offset)),
      { ...FUZZ, numRuns: 2 * FUZZ.numRuns },
    );
  });
});
