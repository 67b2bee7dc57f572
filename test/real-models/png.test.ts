import { crc32, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePng, encodePng, toRgb } from '../../scripts/real-models/png.mjs';

// An independent encoder for the decoder to be checked against: each row filtered by the type the
// test chooses (PNG spec 9.2), image data split over as many IDAT chunks as asked.
const COLOUR: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function filterRows(data: Uint8Array, width: number, height: number, channels: number, filters: readonly number[]): Buffer {
  const stride = width * channels;
  const out = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length]!;
    out[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = data[y * stride + i]!;
      const a = i >= channels ? data[y * stride + i - channels]! : 0;
      const b = y > 0 ? data[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= channels ? data[(y - 1) * stride + i - channels]! : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f]!;
      out[y * (stride + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  return out;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

function png(o: { width: number; height: number; channels: number; data: Uint8Array; filters?: readonly number[]; parts?: number; depth?: number; colour?: number; interlace?: number }): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(o.width, 0);
  ihdr.writeUInt32BE(o.height, 4);
  ihdr[8] = o.depth ?? 8;
  ihdr[9] = o.colour ?? COLOUR[o.channels]!;
  ihdr[12] = o.interlace ?? 0;
  const z = deflateSync(filterRows(o.data, o.width, o.height, o.channels, o.filters ?? [0]));
  const parts = Math.max(1, Math.min(o.parts ?? 1, z.length));
  const idat = Array.from({ length: parts }, (_, k) => chunk('IDAT', z.subarray(Math.floor((k * z.length) / parts), Math.floor(((k + 1) * z.length) / parts))));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('tEXt', Buffer.from('Comment\0test')), ...idat, chunk('IEND', Buffer.alloc(0))]);
}

// A 4 × 3 image whose every sample differs from its neighbours, so each predictor matters.
const sample = (channels: number): Uint8Array => Uint8Array.from({ length: 4 * 3 * channels }, (_, i) => (i * 37 + 11) % 256);

describe('decodePng', () => {
  for (const channels of [1, 2, 3, 4]) {
    for (const filter of [0, 1, 2, 3, 4]) {
      it(`undoes filter ${filter} on ${channels}-channel (colour type ${COLOUR[channels]}) rows`, () => {
        const data = sample(channels);
        expect(decodePng(png({ width: 4, height: 3, channels, data, filters: [filter] }))).toEqual({ width: 4, height: 3, channels, data });
      });
    }
  }

  it('round-trips random images, every filter type per row and image data over several IDAT chunks', () => {
    fc.assert(
      fc.property(
        fc.record({ width: fc.integer({ min: 1, max: 9 }), height: fc.integer({ min: 1, max: 7 }), channels: fc.constantFrom(1, 2, 3, 4), parts: fc.integer({ min: 1, max: 4 }) }).chain((s) =>
          fc.record({ s: fc.constant(s), data: fc.uint8Array({ minLength: s.width * s.height * s.channels, maxLength: s.width * s.height * s.channels }), filters: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: s.height, maxLength: s.height }) }),
        ),
        ({ s, data, filters }) => {
          const got = decodePng(png({ ...s, data, filters }));
          expect(got).toEqual({ width: s.width, height: s.height, channels: s.channels, data });
          expect(decodePng(encodePng(s.width, s.height, s.channels, data))).toEqual(got);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads a view of a larger buffer from its own offset', () => {
    const file = png({ width: 4, height: 3, channels: 3, data: sample(3), filters: [4] });
    const big = Buffer.concat([Buffer.from('garbage before'), file, Buffer.from('after')]);
    expect(decodePng(big.subarray(14, 14 + file.length)).data).toEqual(sample(3));
  });

  it('refuses what it does not support, and damaged files, by name', () => {
    const data = sample(3);
    expect(() => decodePng(Buffer.from('GIF89a........'))).toThrow('bad signature');
    expect(() => decodePng(png({ width: 4, height: 3, channels: 3, data, depth: 16 }))).toThrow('bit depth 16');
    expect(() => decodePng(png({ width: 4, height: 3, channels: 3, data, colour: 3 }))).toThrow('colour type 3');
    expect(() => decodePng(png({ width: 4, height: 3, channels: 3, data, interlace: 1 }))).toThrow('interlaced');
    const bad = png({ width: 4, height: 3, channels: 3, data });
    bad[bad.length - 20] ^= 1;
    expect(() => decodePng(bad)).toThrow('bad CRC');
    const filter = filterRows(data, 4, 3, 3, [0]);
    filter[0] = 5;
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(4, 0);
    ihdr.writeUInt32BE(3, 4);
    ihdr[8] = 8;
    ihdr[9] = 2;
    const wrongFilter = Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(filter)), chunk('IEND', Buffer.alloc(0))]);
    expect(() => decodePng(wrongFilter)).toThrow('unknown filter type 5');
  });
});

describe('toRgb', () => {
  it('repeats grey and drops alpha', () => {
    expect(toRgb({ width: 2, height: 1, channels: 2, data: Uint8Array.from([10, 255, 20, 0]) })).toEqual(Uint8Array.from([10, 10, 10, 20, 20, 20]));
    expect(toRgb({ width: 1, height: 1, channels: 4, data: Uint8Array.from([1, 2, 3, 4]) })).toEqual(Uint8Array.from([1, 2, 3]));
  });
});
