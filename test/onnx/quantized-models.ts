import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';

/** x [batch, 32] → MatMul W1 [32, 24] → Relu → MatMul W2 [24, 8] → y [batch, 8]. */
export function matmulChainModel(opset = 17, batch: number | string = 2) {
  const g = makeGraph({
    nodes: [
      makeNode('MatMul', ['x', 'W1'], ['h'], { name: 'mm1' }),
      makeNode('Relu', ['h'], ['r'], { name: 'relu' }),
      makeNode('MatMul', ['r', 'W2'], ['y'], { name: 'mm2' }),
    ],
    inputs: [makeValueInfo('x', 'float32', [batch, 32])],
    outputs: [makeValueInfo('y', 'float32', [batch, 8])],
    initializers: [makeTensor('W1', 'float32', [32, 24], randomWeights(32 * 24, 11)), makeTensor('W2', 'float32', [24, 8], randomWeights(24 * 8, 12))],
  });
  return makeModel(g, { '': opset });
}

/** x [1, 3, 8, 8] → Conv W [4, 3, 3, 3] + B → Relu → y [1, 4, 6, 6]. */
export function convReluModel(opset = 17) {
  const g = makeGraph({
    nodes: [
      makeNode('Conv', ['x', 'W', 'B'], ['c'], { name: 'conv', attributes: { kernel_shape: [3, 3] } }),
      makeNode('Relu', ['c'], ['y'], { name: 'relu' }),
    ],
    inputs: [makeValueInfo('x', 'float32', [1, 3, 8, 8])],
    outputs: [makeValueInfo('y', 'float32', [1, 4, 6, 6])],
    initializers: [makeTensor('W', 'float32', [4, 3, 3, 3], randomWeights(108, 5)), makeTensor('B', 'float32', [4], randomWeights(4, 6))],
  });
  return makeModel(g, { '': opset });
}

/** x [1, 16] → If(cond) { MatMul(x, W) } else { MatMul(x, W) · 2 } → y [1, 8]: the weight and x come from the outer scope. */
export function ifModel(opset = 17) {
  const thenG = makeGraph({ name: 'then', nodes: [makeNode('MatMul', ['x', 'W'], ['t'], { name: 'then_mm' })], inputs: [], outputs: [makeValueInfo('t', 'float32', [1, 8])] });
  const elseG = makeGraph({
    name: 'else',
    nodes: [makeNode('MatMul', ['x', 'W'], ['e0'], { name: 'else_mm' }), makeNode('Add', ['e0', 'e0'], ['e'], { name: 'else_add' })],
    inputs: [],
    outputs: [makeValueInfo('e', 'float32', [1, 8])],
  });
  const g = makeGraph({
    nodes: [makeNode('If', ['cond'], ['y'], { name: 'if', attributes: { then_branch: thenG, else_branch: elseG } })],
    inputs: [makeValueInfo('x', 'float32', [1, 16]), makeValueInfo('cond', 'bool', [])],
    outputs: [makeValueInfo('y', 'float32', [1, 8])],
    initializers: [makeTensor('W', 'float32', [16, 8], randomWeights(128, 21))],
  });
  return makeModel(g, { '': opset });
}

/** `count` batches of uniform [-1, 1) float32 for input `name` of `dims`. */
export function floatBatches(name: string, dims: number[], count: number, seed: number): TensorMap[] {
  const n = dims.reduce((a, d) => a * d, 1);
  return Array.from({ length: count }, (_, b) => ({ [name]: { name, dtype: 'float32' as const, dims, values: randomWeights(n, seed + b) } }));
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
