import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createRng } from '../../src/core/random.js';

/** Deterministic weights in [-1, 1). */
export function randomWeights(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(rng() * 2 - 1);
  return out;
}

/** x [1, K] → MatMul W [K, N] → Add bias → Gemm (transB) W2 [M, N] + c → y [1, M]. */
export function mlpModel(k = 64, n = 48, m = 16, opset = 17) {
  const g = makeGraph({
    nodes: [
      makeNode('MatMul', ['x', 'W1'], ['h0'], { name: 'mm' }),
      makeNode('Add', ['h0', 'b1'], ['h1'], { name: 'add' }),
      makeNode('Relu', ['h1'], ['h2'], { name: 'relu' }),
      makeNode('Gemm', ['h2', 'W2', 'c2'], ['y'], { name: 'gemm', attributes: { transB: 1 } }),
    ],
    inputs: [makeValueInfo('x', 'float32', [1, k])],
    outputs: [makeValueInfo('y', 'float32', [1, m])],
    initializers: [
      makeTensor('W1', 'float32', [k, n], randomWeights(k * n, 1)),
      makeTensor('b1', 'float32', [n], randomWeights(n, 2)),
      makeTensor('W2', 'float32', [m, n], randomWeights(m * n, 3)),
      makeTensor('c2', 'float32', [m], randomWeights(m, 4)),
    ],
  });
  return makeModel(g, { '': opset });
}

/** x [1, 3, 8, 8] → Conv W [4, 3, 3, 3] + B → y [1, 4, 6, 6]. */
export function convModel(opset = 17) {
  const g = makeGraph({
    nodes: [makeNode('Conv', ['x', 'W', 'B'], ['y'], { name: 'conv', attributes: { kernel_shape: [3, 3] } })],
    inputs: [makeValueInfo('x', 'float32', [1, 3, 8, 8])],
    outputs: [makeValueInfo('y', 'float32', [1, 4, 6, 6])],
    initializers: [makeTensor('W', 'float32', [4, 3, 3, 3], randomWeights(108, 5)), makeTensor('B', 'float32', [4], randomWeights(4, 6))],
  });
  return makeModel(g, { '': opset });
}
