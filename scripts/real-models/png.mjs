// PNG reading for the image-segmentation measurements (IS-Net on photos), without an npm package:
// node:zlib inflates, the scanline filters are undone here. Supports what the measured photos use:
// 8-bit greyscale, grey + alpha, RGB and RGBA, not interlaced; anything else is refused by name.
// encodePng writes the same forms (filter 0 on every row) to look at masks and to test the decoder.
import { crc32, deflateSync, inflateSync } from 'node:zlib';

const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
/** Samples per pixel of each supported colour type (greyscale, RGB, grey + alpha, RGBA). */
const CHANNELS = new Map([[0, 1], [2, 3], [4, 2], [6, 4]]);

/**
 * Decodes a PNG file's bytes into { width, height, channels, data } (data: rows top to bottom,
 * channels interleaved, one byte per sample). Throws on a bad signature, a chunk whose CRC does not
 * match, missing IHDR/IDAT, or a form it does not support (bit depth other than 8, palette, interlace).
 */
export function decodePng(bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8 || !SIGNATURE.every((b, i) => buf[i] === b)) throw new Error('not a PNG file (bad signature)');
  let header;
  const idat = [];
  let at = 8;
  let ended = false;
  while (at + 12 <= buf.length && !ended) {
    const length = buf.readUInt32BE(at);
    if (at + 12 + length > buf.length) throw new Error(`PNG chunk at byte ${at} runs past the end of the file`);
    const type = buf.toString('latin1', at + 4, at + 8);
    const body = buf.subarray(at + 8, at + 8 + length);
    if (crc32(buf.subarray(at + 4, at + 8 + length)) !== buf.readUInt32BE(at + 8 + length)) throw new Error(`PNG chunk ${type} has a bad CRC`);
    if (type === 'IHDR') {
      if (length !== 13) throw new Error('PNG IHDR is not 13 bytes');
      header = { width: body.readUInt32BE(0), height: body.readUInt32BE(4), depth: body[8], colour: body[9], compression: body[10], filter: body[11], interlace: body[12] };
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') ended = true;
    at += 12 + length;
  }
  if (!header) throw new Error('PNG has no IHDR chunk');
  if (!idat.length) throw new Error('PNG has no IDAT chunk');
  const { width, height, depth, colour, compression, filter, interlace } = header;
  const channels = CHANNELS.get(colour);
  if (channels === undefined) throw new Error(`PNG colour type ${colour} is not supported (greyscale, grey + alpha, RGB, RGBA only)`);
  if (depth !== 8) throw new Error(`PNG bit depth ${depth} is not supported (8 only)`);
  if (interlace !== 0) throw new Error('interlaced PNGs are not supported');
  if (compression !== 0 || filter !== 0) throw new Error('PNG uses an unknown compression or filter method');
  if (width === 0 || height === 0) throw new Error('PNG has no pixels');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error(`PNG image data holds ${raw.length} bytes, ${height * (stride + 1)} expected`);
  const data = new Uint8Array(height * stride);
  const bpp = channels;
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? data[row + i - bpp] : 0;
      const b = y > 0 ? data[up + i] : 0;
      const c = y > 0 && i >= bpp ? data[up + i - bpp] : 0;
      let p;
      switch (type) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) >> 1; break;
        case 4: p = paeth(a, b, c); break;
        default: throw new Error(`PNG row ${y} has unknown filter type ${type}`);
      }
      data[row + i] = (raw[src + i] + p) & 0xff;
    }
  }
  return { width, height, channels, data };
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function chunk(type, body) {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** An 8-bit PNG of `channels` (1, 2, 3 or 4) samples per pixel; `data` as decodePng returns it. Every row uses filter 0. */
export function encodePng(width, height, channels, data) {
  const colour = [...CHANNELS].find(([, c]) => c === channels)?.[0];
  if (colour === undefined) throw new Error(`encodePng: ${channels} channels per pixel is not a PNG form`);
  if (data.length !== width * height * channels) throw new Error(`encodePng: ${data.length} samples for ${width} x ${height} x ${channels}`);
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colour;
  return Buffer.concat([Buffer.from(SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** RGB samples [height, width, 3] of a decoded PNG: greyscale repeated, alpha dropped (as imgly reads RGBA's R, G, B). */
export function toRgb(image) {
  const { width, height, channels, data } = image;
  const out = new Uint8Array(width * height * 3);
  const grey = channels < 3;
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) out[i * 3 + k] = data[i * channels + (grey ? 0 : k)];
  }
  return out;
}
