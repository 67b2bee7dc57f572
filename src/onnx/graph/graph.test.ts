import { describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../formats/onnx/builders.js';
import { makeTensor, readFloat32 } from '../../formats/onnx/tensor.js';
import { applyEdits } from './graph-edit.js';
import { allGraphs, indexGraph, NameGenerator, resolveConstant, usesOf } from './graph.js';
import { checkOpset } from './opset.js';

/** Main graph: W initializer, C from a Constant node, If whose then-branch uses W from the outer scope. */
function model() {
  const w = makeTensor('W', 'float32', [2, 2], new Float32Array([1, 2, 3, 4]));
  const thenBranch = makeGraph({
    name: 'then',
    nodes: [makeNode('MatMul', ['x', 'W'], ['t'], { name: 'inner_mm' })],
    inputs: [],
    outputs: [makeValueInfo('t', 'float32', [1, 2])],
  });
  const elseBranch = makeGraph({
    name: 'else',
    nodes: [makeNode('Identity', ['x'], ['e'], { name: 'id' })],
    inputs: [],
    outputs: [makeValueInfo('e', 'float32', [1, 2])],
    initializers: [makeTensor('W', 'float32', [1], new Float32Array([9]))],
  });
  const g = makeGraph({
    nodes: [
      makeNode('Constant', [], ['C'], { name: 'const', attributes: { value_floats: { floats: [0.5, 1.5] } } }),
      makeNode('MatMul', ['x', 'W'], ['y0'], { name: 'mm' }),
      makeNode('Add', ['y0', 'C'], ['y1'], { name: 'add' }),
      makeNode('If', ['cond'], ['y'], { name: 'if', attributes: { then_branch: thenBranch, else_branch: elseBranch } }),
    ],
    inputs: [makeValueInfo('x', 'float32', [1, 2]), makeValueInfo('cond', 'bool', [])],
    outputs: [makeValueInfo('y', 'float32', [1, 2])],
    initializers: [w],
  });
  return makeModel(g, { '': 17 });
}

describe('indexGraph', () => {
  it('indexes producers, consumers, initializers and subgraphs with their outer scope', () => {
    const m = model();
    const root = indexGraph(m.graph!);
    expect(root.producers.get('y1')?.name).toBe('add');
    expect(root.consumers.get('x')?.map((n) => n.name)).toEqual(['mm']);
    expect(root.initializers.has('W')).toBe(true);
    expect(root.children.map((c) => c.graph.name)).toEqual(['then', 'else']);
    expect(root.children[0]!.parent).toBe(root);
    expect(root.children[0]!.owner?.name).toBe('if');
    expect(allGraphs(root).length).toBe(3);
  });

  it('resolves initializers, Constant nodes and outer-scope names, honouring shadowing', () => {
    const root = indexGraph(model().graph!);
    const c = resolveConstant(root, 'C');
    expect(c?.kind).toBe('constant-node');
    expect(Array.from(readFloat32(c!.tensor))).toEqual([0.5, 1.5]);
    const inner = resolveConstant(root.children[0]!, 'W');
    expect(inner?.kind).toBe('initializer');
    expect(inner?.scope).toBe(root);
    // The else branch defines its own W: it shadows the outer one.
    expect(readFloat32(resolveConstant(root.children[1]!, 'W')!.tensor).length).toBe(1);
    expect(resolveConstant(root, 'x')).toBeUndefined();
    expect(resolveConstant(root, 'y0')).toBeUndefined();
  });

  it('treats an initializer that is also a graph input as overridable from IR 4', () => {
    const m = model();
    m.graph!.input.push(makeValueInfo('W', 'float32', [2, 2]));
    const root = indexGraph(m.graph!);
    expect(resolveConstant(root, 'W', 8)).toBeUndefined();
    expect(resolveConstant(root, 'W', 3)?.kind).toBe('initializer');
  });

  it('finds uses in nested graphs that do not shadow the name', () => {
    const root = indexGraph(model().graph!);
    expect(usesOf(root, 'W').map((u) => u.node.name)).toEqual(['mm', 'inner_mm']);
  });

  it('generates names not used anywhere in the model', () => {
    const names = new NameGenerator(indexGraph(model().graph!));
    expect(names.next('W')).toBe('W_1');
    expect(names.next('W')).toBe('W_2');
    expect(names.next('inner_mm')).toBe('inner_mm_1');
    expect(names.next('fresh')).toBe('fresh');
  });
});

describe('applyEdits', () => {
  it('adds, removes, replaces and rewires in one pass, keeping order', () => {
    const m = model();
    const g = m.graph!;
    const [cnst, mm, add] = g.node;
    const dq = makeNode('DequantizeLinear', ['Wq', 'Ws'], ['Wd'], { name: 'dq' });
    const relu = makeNode('Relu', ['y1'], ['y1r'], { name: 'relu' });
    applyEdits(m, [
      { kind: 'add-node', graph: g, node: dq, before: mm! },
      { kind: 'set-input', node: mm!, index: 1, name: 'Wd' },
      { kind: 'remove-initializer', graph: g, name: 'W' },
      { kind: 'add-initializer', graph: g, tensor: makeTensor('Wq', 'int8', [2, 2], new Int8Array(4)) },
      { kind: 'replace-node', graph: g, node: add!, nodes: [add!, relu] },
      { kind: 'remove-node', graph: g, node: cnst! },
      { kind: 'set-opset', domain: 'com.microsoft', version: 1 },
      { kind: 'set-opset', domain: '', version: 13 },
    ]);
    expect(g.node.map((n) => n.name)).toEqual(['dq', 'mm', 'add', 'relu', 'if']);
    expect(mm!.input).toEqual(['x', 'Wd']);
    expect(g.initializer.map((t) => t.name)).toEqual(['Wq']);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17], ['com.microsoft', 1]]);
  });

  it('rejects inconsistent edits before changing anything', () => {
    const m = model();
    const g = m.graph!;
    const mm = g.node[1]!;
    const before = g.node.map((n) => n.name);
    expect(() => applyEdits(m, [{ kind: 'remove-node', graph: g, node: mm }, { kind: 'remove-node', graph: g, node: mm }])).toThrow(/removed or replaced by two edits/);
    expect(() => applyEdits(m, [{ kind: 'set-input', node: mm, index: 5, name: 'a' }])).toThrow(/has 2 inputs, cannot set input 5/);
    expect(() => applyEdits(m, [{ kind: 'remove-initializer', graph: g, name: 'nope' }])).toThrow(/no initializer 'nope'/);
    expect(() => applyEdits(m, [{ kind: 'add-initializer', graph: g, tensor: makeTensor('W', 'float32', [1], new Float32Array(1)) }])).toThrow(/already has an initializer 'W'/);
    const stranger = makeNode('Relu', ['a'], ['b'], { name: 'stranger' });
    expect(() => applyEdits(m, [{ kind: 'remove-node', graph: g, node: stranger }])).toThrow(/'stranger' is not in graph/);
    expect(g.node.map((n) => n.name)).toEqual(before);
  });

  it('removes a graph input named like a removed initializer', () => {
    const m = model();
    m.graph!.input.push(makeValueInfo('W', 'float32', [2, 2]));
    applyEdits(m, [{ kind: 'remove-initializer', graph: m.graph!, name: 'W' }]);
    expect(m.graph!.input.map((v) => v.name)).toEqual(['x', 'cond']);
  });
});

describe('checkOpset', () => {
  it('accepts supported opsets and names the range otherwise', () => {
    expect(checkOpset(model())).toBe(17);
    expect(() => checkOpset(makeModel(model().graph!, { '': 99 }))).toThrow(/opset 99: quantkit supports opsets 7..25/);
    expect(() => checkOpset(makeModel(model().graph!, { 'com.microsoft': 1 }))).toThrow(/imports no ai.onnx opset/);
  });
});
