import { describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { indexGraph } from '../../src/onnx/graph/graph.js';
import type { LayerStats } from '../../src/onnx/modes/weight-only/layer-stats.js';
import { calibrateWeightLayers, layerInputOf } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { randomWeights } from './models.js';

/**
 * GPTQ's Hessian of a 1×1 convolution by its definition: the im2col patch of an output position is
 * the input's channel vector there, so H = 2/N · Σ patchᵀ·patch over the N = batch·height·width
 * output positions, per group over the group's own channels. Summed here in float64 from the raw
 * input, independently of how quantkit lays the activation out.
 */
function referenceHessian(x: Float32Array, [n, c, h, w]: number[], c0: number, cols: number): Float64Array {
  const out = new Float64Array(cols * cols);
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < plane; p++) {
      for (let i = 0; i < cols; i++) {
        const xi = x[(b * c + c0 + i) * plane + p]!;
        for (let j = 0; j < cols; j++) out[i * cols + j] += xi * x[(b * c + c0 + j) * plane + p]!;
      }
    }
  }
  return out.map((v) => (2 * v) / (n * plane));
}

describe("GPTQ's Conv Hessian", () => {
  it.each([1, 2])('of a 1×1 Conv with group %i is 2/N Σ patchᵀpatch over every output position of every batch', async (group) => {
    const [cin, cout] = [6, 4];
    const cols = cin / group;
    const g = makeGraph({
      nodes: [makeNode('Relu', ['x'], ['r']), makeNode('Conv', ['r', 'W'], ['y'], { name: 'conv', attributes: { kernel_shape: [1, 1], group } })],
      inputs: [makeValueInfo('x', 'float32', ['n', cin, 3, 5])],
      outputs: [makeValueInfo('y', 'float32', ['n', cout, 3, 5])],
      initializers: [makeTensor('W', 'float32', [cout, cols, 1, 1], randomWeights(cout * cols, 3))],
    });
    const model = makeModel(g, { '': 21 });
    const conv = g.node[1]!;
    const input = layerInputOf(conv, 1, [[cout, cols, 1, 1]], 8, indexGraph(g))!;
    expect(input).toMatchObject({ tensor: 'r', channelAxis: 1, cols, groups: group });
    // Two batches of different sizes: the running mean must weigh every position alike.
    const xs = [randomWeights(2 * cin * 15, 11), randomWeights(1 * cin * 15, 12)];
    const dims = [[2, cin, 3, 5], [1, cin, 3, 5]];
    let seen: readonly LayerStats[] = [];
    await calibrateWeightLayers(model, [{ node: conv, ...input, weights: [{ name: 'W', tensor: g.initializer[0]!, scheme: { form: 'dequantize-linear', dtype: 'int4', symmetric: true, granularity: { kind: 'per-block', axis: 1, blockSize: 16 }, domain: '', reduceRange: false }, use: undefined }] }], {
      runModel: createOrtRunner(),
      data: () => xs.map((values, i) => ({ x: { name: 'x', dtype: 'float32' as const, dims: dims[i]!, values } })),
      hessian: true,
      sample: false,
      sequential: false,
      quantizeLayer: (_, stats) => ((seen = stats), []),
    });
    // The Relu'd input of both batches, stacked along the batch axis.
    const relu = new Float32Array(3 * cin * 15);
    relu.set(xs[0]!.map((v) => Math.max(v, 0)));
    relu.set(xs[1]!.map((v) => Math.max(v, 0)), 2 * cin * 15);
    expect(seen).toHaveLength(group);
    for (let k = 0; k < group; k++) {
      expect(seen[k]!.rows).toBe(3 * 15);
      const h = seen[k]!.hessian!.hessian();
      const ref = referenceHessian(relu, [3, cin, 3, 5], k * cols, cols);
      expect(h).toHaveLength(cols * cols);
      for (let i = 0; i < h.length; i++) expect(h[i]!).toBeCloseTo(ref[i]!, 12);
    }
  });
});
