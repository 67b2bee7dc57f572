// Text lines for the PaddleOCR recognizer and classifier, and how their outputs are read: lines are
// rendered with ImageMagick (`convert`, DejaVu fonts when installed) when it is on this machine,
// else the committed recognizer batch of test/fixtures/real-models/ocr-rec is used (two lines, whose
// text prepare-data.mjs drew), so every machine gets a figure and says which lines it came from.
// Decoding is greedy CTC with the model's own dictionary, through src/onnx/metrics (the `ctc`
// metric's decoder and edit distance), from the build.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Preprocessing of PaddleOCR's recognizer: height 48, (v/255 − 0.5)/0.5, zero-padded on the right. */
export const REC_HEIGHT = 48;
export const REC_WIDTH = 320;
/** PaddleOCR's direction classifier input: 48 × 192. */
export const CLS_WIDTH = 192;

const DEJAVU = '/usr/share/fonts/truetype/dejavu';
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSerif.ttf', 'DejaVuSansMono.ttf', 'DejaVuSans-Bold.ttf'];

/** The scored lines: fixed phrases, then deterministic generated ones. */
export const SCORED_LINES = [
  'Invoice 2026-12-07', 'Total: $1,284.50', 'Quantization keeps accuracy', 'ONNX Runtime on CPU', 'Hello world 42',
  'Order #A7731 shipped', 'Temperature 23.5 C', 'The quick brown fox', 'jumps over the lazy dog', 'Call 555-0199 today',
  'Room 314, Floor 2', 'Version 1.30.0', 'Model size 7.9 MB', 'Latency 12 ms', 'Per channel weights',
  'Batch 8 of 64', 'Error rate 0.4%', 'Dynamic and static', 'Meet at 10:45 AM', 'Page 17 of 250',
  ...generatedLines(40),
];
/** Other lines, for calibrating static models on something else than what is scored. */
export const CALIBRATION_LINES = ['Calibration line 1', 'Receipt No. 90210', 'Sample text 3.14', 'Monday 08:00', 'Kernel u8 x s8', 'Price 99.99 EUR', 'Zip 10115 Berlin', 'Line eight here'];
/** What scripts/real-models/prepare-data.mjs drew in the committed recognizer batch (MNIST digits, then bitmap-font text). */
export const COMMITTED_REC_TEXT = ['2718281', 'ONNX KIT'];

/** More lines, deterministic: words and numbers drawn by a fixed linear congruential sequence. */
function generatedLines(n) {
  const words = ['north', 'river', 'Data', 'signal', 'Quartz', 'model', 'engine', 'Light', 'paper', 'glass', 'Seven', 'market', 'index', 'value', 'Window', 'garden', 'Tokyo', 'Lisbon', 'amber', 'copper'];
  let state = 12345;
  const next = (m) => ((state = (state * 1103515245 + 12345) % 2147483648), state % m);
  return Array.from({ length: n }, () => {
    const parts = [words[next(words.length)], String(next(10000)), words[next(words.length)]];
    if (next(2)) parts.push(`${next(100)}.${next(10)}`);
    return parts.join(' ');
  });
}

/**
 * How lines can be rendered here: the ImageMagick `convert` that answers `-version` and the DejaVu
 * fonts present (none: ImageMagick's default font), or null when there is no ImageMagick (or
 * `allow` is false).
 */
export function findRenderer(allow = true) {
  if (!allow) return null;
  for (const convert of ['convert', '/usr/bin/convert', '/usr/local/bin/convert']) {
    try {
      const v = execFileSync(convert, ['-version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      if (!/ImageMagick/.test(v)) continue;
      const fonts = FONT_FILES.map((f) => join(DEJAVU, f)).filter((f) => existsSync(f));
      return { convert, fonts, version: v.match(/ImageMagick \S+/)?.[0] ?? 'ImageMagick' };
    } catch {
      // not this one
    }
  }
  return null;
}

/** One line rendered at height 48, squeezed to `width` when wider (as PaddleOCR's resize past its ratio), padded otherwise; gray in 0..255. */
function renderGray(renderer, text, font, width) {
  const fontArgs = font ? ['-font', font] : [];
  const pgm = execFileSync(renderer.convert, ['-background', 'white', '-fill', 'black', ...fontArgs, '-pointsize', '40', `label:${text}`, '-bordercolor', 'white', '-border', '6x4', '-resize', `x${REC_HEIGHT}`, '-depth', '8', 'pgm:-']);
  const header = pgm.toString('latin1', 0, 64).match(/^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/);
  if (!header) throw new Error('convert did not give a PGM');
  const [, w, h] = header.map(Number);
  const pixels = pgm.subarray(header[0].length);
  const outW = Math.min(w, width);
  // Padding is the normalized 0 PaddleOCR pads with, i.e. gray 127.5.
  const gray = new Float32Array(REC_HEIGHT * width).fill(127.5);
  for (let y = 0; y < REC_HEIGHT; y++) for (let x = 0; x < outW; x++) gray[y * width + x] = pixels[Math.min(h - 1, y) * w + Math.min(w - 1, Math.floor((x * w) / outW))];
  return gray;
}

/** Gray images [N, 48, width] to the model's [N, 3, 48, width] input, (v/255 − 0.5)/0.5; `flip` turns each 180°. */
function toInput(grays, width, flip = false) {
  const plane = REC_HEIGHT * width;
  const data = new Float32Array(grays.length * 3 * plane);
  grays.forEach((g, n) => {
    for (let i = 0; i < plane; i++) {
      const v = (g[flip ? plane - 1 - i : i] / 255 - 0.5) / 0.5;
      for (let c = 0; c < 3; c++) data[(n * 3 + c) * plane + i] = v;
    }
  });
  return { dims: [grays.length, 3, REC_HEIGHT, width], data };
}

/** Renders `lines` (fonts taken in turn) as a recognizer batch of width `width`. */
export function renderBatch(renderer, lines, width = REC_WIDTH, flip = false) {
  return toInput(lines.map((t, i) => renderGray(renderer, t, renderer.fonts[i % renderer.fonts.length], width)), width, flip);
}

/**
 * The recognizer's scored lines: rendered when `renderer` is given, else the committed batch
 * (`committed` is its TensorMap from comparisonBatches). `source` says which.
 */
export function recognizerLines(renderer, committed) {
  if (renderer) {
    return { source: `${SCORED_LINES.length} lines rendered with ${renderer.version} (${renderer.fonts.length ? `${renderer.fonts.length} DejaVu fonts` : 'its default font'})`, texts: SCORED_LINES, batch: renderBatch(renderer, SCORED_LINES) };
  }
  const x = committed.x;
  return { source: `the ${COMMITTED_REC_TEXT.length} committed lines of test/fixtures/real-models/ocr-rec (ImageMagick absent or not used)`, texts: COMMITTED_REC_TEXT, batch: { dims: x.dims, data: x.values } };
}

/**
 * The direction classifier's inputs with their true class (0 upright, 1 turned 180°): the
 * rendered lines squeezed to 48 × 192, each upright and turned, when `renderer` is given; else
 * the committed batch (one line upright, then turned).
 */
export function classifierLines(renderer, committed) {
  if (renderer) {
    const lines = SCORED_LINES.slice(0, 30);
    const up = renderBatch(renderer, lines, CLS_WIDTH);
    const down = renderBatch(renderer, lines, CLS_WIDTH, true);
    const data = new Float32Array(up.data.length * 2);
    data.set(up.data);
    data.set(down.data, up.data.length);
    return { source: `${lines.length} rendered lines, upright and turned 180°`, labels: [...lines.map(() => 0), ...lines.map(() => 1)], batch: { dims: [2 * lines.length, 3, REC_HEIGHT, CLS_WIDTH], data } };
  }
  const x = committed.x;
  return { source: 'the committed batch of test/fixtures/real-models/ocr-cls (one line, upright and turned)', labels: [0, 1], batch: { dims: x.dims, data: x.values } };
}

/** The recognizer's classes: blank, its dictionary, then space (as PaddleOCR's use_space_char). */
export function recognizerCharacters(dictionaryPath) {
  const keys = readFileSync(dictionaryPath, 'utf8').split('\n').filter((l, i, a) => i < a.length - 1 || l !== '');
  return ['', ...keys, ' '];
}

/** Greedy CTC decoding of the recognizer's [N, T, C] output into strings, with src/onnx/metrics' decoder. */
export function decodeLines(metrics, characters, output) {
  const [n, t, c] = output.dims;
  return Array.from({ length: n }, (_, b) => metrics.ctcGreedyDecode(output.data, b * t * c, t, c, 0).map((k) => characters[k] ?? '\uFFFD').join(''));
}

/** 1 − Σ edit distance / Σ characters of `truth` (code points), with src/onnx/metrics' edit distance. */
export function characterAccuracy(metrics, predicted, truth) {
  let edits = 0;
  let chars = 0;
  predicted.forEach((p, i) => {
    const want = [...truth[i]].map((ch) => ch.codePointAt(0));
    edits += metrics.editDistance([...p].map((ch) => ch.codePointAt(0)), want);
    chars += want.length;
  });
  return Math.max(0, 1 - edits / chars);
}
