import { describe, expect, it } from 'vitest';
import { makeGraph, makeNode, makeValueInfo } from '../../formats/onnx/builders.js';
import { makeTensor } from '../../formats/onnx/tensor.js';
import { nodeReads, pruneToAncestors } from './prune-to-ancestors.js';

/**
 * x → A (·wa) → a, a2 (Split) → B → b → If (its branches read b and c from outside) → d → E → e;
 * x → C (·wc) → c; x → F → f (nothing needs it). Value infos for a, c and f.
 */
function graph() {
  const branch = (name: string, op: string) =>
    makeGraph({ name, nodes: [makeNode(op, ['b', 'c'], [`${name}_y`], { name: `${name}_${op}` })], inputs: [], outputs: [makeValueInfo(`${name}_y`, 'float32')] });
  return makeGraph({
    nodes: [
      makeNode('Mul', ['x', 'wa'], ['am'], { name: 'A0' }),
      makeNode('Split', ['am'], ['a', 'a2'], { name: 'A', attributes: { axis: 0, num_outputs: 2 } }),
      makeNode('Relu', ['a'], ['b'], { name: 'B' }),
      makeNode('Mul', ['x', 'wc'], ['c'], { name: 'C' }),
      makeNode('If', ['cond'], ['d'], { name: 'D', attributes: { then_branch: branch('then', 'Add'), else_branch: branch('else', 'Sub') } }),
      makeNode('Neg', ['d'], ['e'], { name: 'E' }),
      makeNode('Sigmoid', ['x'], ['f'], { name: 'F' }),
    ],
    inputs: [makeValueInfo('x', 'float32', [4, 2]), makeValueInfo('cond', 'bool', [])],
    outputs: [makeValueInfo('e', 'float32'), makeValueInfo('f', 'float32')],
    initializers: [makeTensor('wa', 'float32', [1], new Float32Array([2])), makeTensor('wc', 'float32', [1], new Float32Array([3])), makeTensor('unused', 'float32', [1], new Float32Array([4]))],
    valueInfo: [makeValueInfo('a', 'float32'), makeValueInfo('c', 'float32'), makeValueInfo('f', 'float32')],
  });
}

const names = (g: { node: { name: string }[] }) => g.node.map((n) => n.name);

describe('pruneToAncestors', () => {
  it('counts the outer values an If body reads as the If node reads', () => {
    const g = graph();
    expect(nodeReads(g.node.find((n) => n.name === 'D')!).sort()).toEqual(['b', 'c', 'cond']);
  });

  it('keeps the nodes the outputs depend on (through subgraph reads), in order, and drops the rest', () => {
    const g = graph();
    const { graph: p, fed } = pruneToAncestors(g, [makeValueInfo('e', 'float32')]);
    expect(names(p)).toEqual(['A0', 'A', 'B', 'C', 'D', 'E']);
    expect(fed).toEqual([]);
    expect(p.output.map((v) => v.name)).toEqual(['e']);
    expect(p.input.map((v) => v.name)).toEqual(['x', 'cond']);
    expect(p.initializer.map((t) => t.name)).toEqual(['wa', 'wc']);
    expect(p.valueInfo.map((v) => v.name)).toEqual(['a', 'c']);
    // The source graph is untouched.
    expect(names(g)).toHaveLength(7);
    expect(g.output.map((v) => v.name)).toEqual(['e', 'f']);
  });

  it('stops at fed values, which become graph inputs', () => {
    const { graph: p, fed } = pruneToAncestors(graph(), [makeValueInfo('e', 'float32')], new Map([['b', makeValueInfo('b', 'float32')]]));
    expect(names(p)).toEqual(['C', 'D', 'E']);
    expect(fed).toEqual(['b']);
    expect(p.input.map((v) => v.name)).toEqual(['x', 'cond', 'b']);
    expect(p.initializer.map((t) => t.name)).toEqual(['wc']);
  });

  it('computes a fed value whose producer it keeps anyway, and leaves out feeds nothing reads', () => {
    const feeds = new Map(['a', 'f'].map((n) => [n, makeValueInfo(n, 'float32')] as const));
    const { graph: p, fed } = pruneToAncestors(graph(), [makeValueInfo('b', 'float32'), makeValueInfo('a2', 'float32')], feeds);
    expect(names(p)).toEqual(['A0', 'A', 'B']);
    expect(fed).toEqual([]);
    expect(p.input.map((v) => v.name)).toEqual(['x', 'cond']);
  });

  it('keeps nothing when the outputs are graph inputs or fed', () => {
    const { graph: p, fed } = pruneToAncestors(graph(), [makeValueInfo('x', 'float32'), makeValueInfo('c', 'float32')], new Map([['c', makeValueInfo('c', 'float32')]]));
    expect(names(p)).toEqual([]);
    expect(fed).toEqual(['c']);
    expect(p.initializer).toEqual([]);
  });
});
