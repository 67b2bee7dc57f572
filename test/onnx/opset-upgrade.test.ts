import type { ModelProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { findAttribute } from '../../src/formats/onnx/attributes.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor, readTensor } from '../../src/formats/onnx/tensor.js';
import { opsetVersion } from '../../src/onnx/graph/opset.js';
import { upgradeOpset } from '../../src/onnx/graph/opset-upgrade.js';

/** An opset-9 model using every attribute form that became an input by opset 11: x [2, 8] → Clip → Slice → Pad → TopK → y [2, 3]. */
function oldModel(extra: { clipInput?: 'float16' } = {}) {
  const nodes = [
    makeNode('Clip', ['x'], ['c'], { name: 'clip', attributes: { min: { float: -0.5 }, max: { float: 0.25 } } }),
    makeNode('Slice', ['c'], ['s'], { name: 'slice', attributes: { starts: [0, 1], ends: [2, 7], axes: [0, 1] } }),
    makeNode('Pad', ['s'], ['p'], { name: 'pad', attributes: { pads: [0, 1, 0, 1], value: { float: 0.125 } } }),
    makeNode('TopK', ['p'], ['y', 'i'], { name: 'topk', attributes: { k: 3 } }),
  ];
  const inputs = [makeValueInfo('x', 'float32', [2, 8])];
  if (extra.clipInput) inputs.push(makeValueInfo('h', 'float16', [1]));
  const g = makeGraph({ nodes, inputs, outputs: [makeValueInfo('y', 'float32', [2, 3]), makeValueInfo('i', 'int64', [2, 3])] });
  return makeModel(g, { '': 9 });
}

async function run(m: ModelProto, x: Float32Array): Promise<[Float32Array, BigInt64Array]> {
  const s = await ort.InferenceSession.create(encodeModel(m));
  try {
    const r = await s.run({ x: new ort.Tensor('float32', x, [2, 8]) });
    return [r.y!.data as Float32Array, r.i!.data as BigInt64Array];
  } finally {
    await s.release();
  }
}

describe('upgradeOpset', () => {
  it('moves Clip/Slice/Pad/TopK attributes into Constant inputs, raises the import to 11, and onnxruntime gives the same outputs', async () => {
    const m = oldModel();
    const before = structuredClone(m);
    const u = upgradeOpset(m, 11);
    expect(u).toEqual({
      from: 9,
      to: 11,
      rewritten: [
        { opType: 'Clip', count: 1, change: 'min/max attributes -> inputs' },
        { opType: 'Slice', count: 1, change: 'starts/ends/axes attributes -> inputs' },
        { opType: 'Pad', count: 1, change: 'pads/value attributes -> inputs' },
        { opType: 'TopK', count: 1, change: 'k attribute -> input' },
      ],
    });
    expect(opsetVersion(m, '')).toBe(11);
    const byName = new Map(m.graph!.node.map((n) => [n.name, n]));
    for (const n of ['clip', 'slice', 'pad', 'topk']) expect(byName.get(n)!.attribute.map((a) => a.name)).toEqual([]);
    const constant = (name: string) => readTensor(findAttribute(m.graph!.node.find((n) => n.output[0] === name)!, 'value')!.t!);
    const clip = byName.get('clip')!;
    expect([constant(clip.input[1]!).values[0], constant(clip.input[2]!).values[0]]).toEqual([-0.5, 0.25]);
    expect(constant(clip.input[1]!).dtype).toBe('float32');
    const slice = byName.get('slice')!;
    expect(slice.input.slice(1).map((n) => Array.from(constant(n).values as BigInt64Array, Number))).toEqual([[0, 1], [2, 7], [0, 1]]);
    const pad = byName.get('pad')!;
    expect(Array.from(constant(pad.input[1]!).values as BigInt64Array, Number)).toEqual([0, 1, 0, 1]);
    expect(constant(pad.input[2]!).values[0]).toBe(0.125);
    expect(Array.from(constant(byName.get('topk')!.input[1]!).values as BigInt64Array, Number)).toEqual([3]);
    // Every new Constant comes before its reader.
    const order = m.graph!.node.map((n) => n.output[0]);
    for (const n of m.graph!.node) for (const i of n.input) if (order.includes(i)) expect(order.indexOf(i)).toBeLessThan(order.indexOf(n.output[0]));

    const x = Float32Array.from({ length: 16 }, (_, k) => Math.fround(Math.sin(k * 1.7)));
    const [y0, i0] = await run(before, x);
    const [y1, i1] = await run(m, x);
    expect(Array.from(y1)).toEqual(Array.from(y0));
    expect(Array.from(i1)).toEqual(Array.from(i0));
  });

  it('drops BatchNormalization spatial = 1, renames Scatter, and leaves compatible ops and newer models alone', () => {
    const g = makeGraph({
      nodes: [
        makeNode('BatchNormalization', ['x', 's', 'b', 'mu', 'v'], ['n'], { name: 'bn', attributes: { spatial: 1, epsilon: { float: 1e-5 } } }),
        makeNode('Scatter', ['n', 'idx', 'upd'], ['y'], { name: 'sc', attributes: { axis: 1 } }),
        makeNode('Relu', ['y'], ['z'], { name: 'relu' }),
      ],
      inputs: [makeValueInfo('x', 'float32', [1, 2, 2, 2])],
      outputs: [makeValueInfo('z', 'float32', [1, 2, 2, 2])],
    });
    const m = makeModel(g, { '': 8 });
    const u = upgradeOpset(m, 11);
    expect(u.rewritten.map((r) => r.opType)).toEqual(['BatchNormalization', 'Scatter']);
    expect(m.graph!.node.map((n) => n.opType)).toEqual(['BatchNormalization', 'ScatterElements', 'Relu']);
    expect(m.graph!.node[0]!.attribute.map((a) => a.name)).toEqual(['epsilon']);
    expect(upgradeOpset(m, 11)).toEqual({ from: 11, to: 11, rewritten: [] });
  });

  it('refuses, naming each node, when an op would change meaning; the model is left as it was', () => {
    const g = makeGraph({
      nodes: [
        makeNode('Upsample', ['x'], ['u'], { name: 'up', attributes: { scales: { floats: [1, 1, 2, 0.5] } } }),
        makeNode('BatchNormalization', ['u', 's', 'b', 'mu', 'v'], ['n'], { name: 'bn0', attributes: { spatial: 0 } }),
        makeNode('Dropout', ['n'], ['d', 'mask'], { name: 'drop' }),
        makeNode('Clip', ['d'], ['y'], { name: 'clip', attributes: { max: { float: 6 } } }),
      ],
      inputs: [makeValueInfo('x', 'float32', [1, 2, 2, 2]), makeValueInfo('h', 'float16', [1])],
      outputs: [makeValueInfo('y', 'float32', [1, 2, 4, 4]), makeValueInfo('mask', 'float32', [1, 2, 4, 4])],
    });
    const m = makeModel(g, { '': 7 });
    const before = structuredClone(m);
    let message = '';
    try {
      upgradeOpset(m, 11);
    } catch (e) {
      expect(e).toMatchObject({ code: 'UNSUPPORTED' });
      message = (e as Error).message;
    }
    expect(message).toMatch(/^the model is ai.onnx opset 7 and this mode needs opset 11, but raising it would change or break 4 node\(s\)/);
    expect(message).toMatch(/Upsample 'up': nearest with scales \[1, 1, 2, 0.5\] enlarges some axes and shrinks others/);
    expect(message).toMatch(/BatchNormalization 'bn0': spatial = 0/);
    expect(message).toMatch(/Dropout 'drop': its mask output is read/);
    expect(message).toMatch(/Clip 'clip': .*cannot be determined: the model has float16 tensors/);
    expect(message).toMatch(/onnx.version_converter/);
    expect(m).toEqual(before);
  });

  it('cannot prove float32 behind a custom-domain op, so Clip bounds block there but a Clip without bounds does not', () => {
    const m = oldModel();
    m.graph!.node.unshift(makeNode('Foo', ['x0'], ['x'], { name: 'foo', domain: 'com.example' }));
    expect(() => upgradeOpset(m, 11)).toThrow(/Clip 'clip': .*node 'foo' is com.example.Foo/);
    const bare = makeModel(makeGraph({ nodes: [makeNode('Clip', ['x'], ['y'], { name: 'c' })], inputs: [makeValueInfo('x', 'float16', [1])], outputs: [makeValueInfo('y', 'float16', [1])] }), { '': 9 });
    expect(upgradeOpset(bare, 11).rewritten).toEqual([]);
  });

  describe('Upsample and Resize-10 become Resize-11 with the rounding onnxruntime gives them', () => {
    const dims = [1, 2, 5, 7];
    const x = Float32Array.from({ length: 70 }, (_, k) => Math.fround(Math.sin(k * 1.3) * 3));

    /** x [1, 2, 5, 7] -> one resize node -> y, with scales from an initializer, a Constant node or an attribute. */
    function resizeModel(opType: 'Upsample' | 'Resize', opset: number, mode: string, scales: number[], from: 'initializer' | 'constant' | 'attribute') {
      const nodes = [];
      const initializers = [];
      const inputs = ['x'];
      const attributes: Record<string, unknown> = { mode };
      if (from === 'attribute') attributes.scales = { floats: scales };
      else {
        inputs.push('scales');
        const t = makeTensor('scales', 'float32', [4], Float32Array.from(scales));
        if (from === 'initializer') initializers.push(t);
        else nodes.push(makeNode('Constant', [], ['scales'], { name: 'scales_const', attributes: { value: t } }));
      }
      nodes.push(makeNode(opType, inputs, ['y'], { name: 'resize', attributes: attributes as never }));
      return makeModel(makeGraph({ nodes, inputs: [makeValueInfo('x', 'float32', dims)], outputs: [makeValueInfo('y', 'float32')], initializers }), { '': opset });
    }

    async function output(m: ModelProto): Promise<{ dims: readonly number[]; data: Float32Array }> {
      const s = await ort.InferenceSession.create(encodeModel(m));
      try {
        const y = (await s.run({ x: new ort.Tensor('float32', x, dims) })).y!;
        return { dims: y.dims, data: y.data as Float32Array };
      } finally {
        await s.release();
      }
    }

    const CASES = [
      { opType: 'Upsample', opset: 9, mode: 'nearest', scales: [1, 1, 2, 3], from: 'initializer', nearest: 'floor' },
      { opType: 'Upsample', opset: 9, mode: 'nearest', scales: [1, 1, 1.7, 2.3], from: 'constant', nearest: 'floor' },
      { opType: 'Upsample', opset: 9, mode: 'linear', scales: [1, 1, 1.5, 2.5], from: 'constant', nearest: undefined },
      { opType: 'Upsample', opset: 8, mode: 'nearest', scales: [1, 1, 3, 2], from: 'attribute', nearest: 'floor' },
      { opType: 'Resize', opset: 10, mode: 'nearest', scales: [1, 1, 0.6, 0.7], from: 'initializer', nearest: 'ceil' },
      { opType: 'Resize', opset: 10, mode: 'nearest', scales: [1, 1, 2.5, 1.25], from: 'initializer', nearest: 'floor' },
      { opType: 'Resize', opset: 10, mode: 'linear', scales: [1, 1, 0.6, 1.9], from: 'initializer', nearest: undefined },
    ] as const;

    for (const c of CASES) {
      it(`${c.opType}-${c.opset} ${c.mode}, scales [${c.scales.join(', ')}] from ${c.from === 'attribute' ? 'an attribute' : `a${c.from === 'initializer' ? 'n' : ''} ${c.from}`}: identical outputs`, async () => {
        const m = resizeModel(c.opType, c.opset, c.mode, [...c.scales], c.from);
        const before = structuredClone(m);
        const u = upgradeOpset(m, 11);
        expect(u.rewritten).toEqual([{ opType: c.opType, count: 1, change: c.opType === 'Upsample' ? 'Upsample -> Resize-11 (asymmetric coordinates)' : 'Resize-10 -> Resize-11 (roi input, asymmetric coordinates)' }]);
        const resize = m.graph!.node.find((n) => n.name === 'resize')!;
        expect(resize.opType).toBe('Resize');
        expect(resize.input).toHaveLength(3);
        const attrs = Object.fromEntries(resize.attribute.map((a) => [a.name, new TextDecoder().decode(a.s)]));
        expect(attrs).toEqual({ mode: c.mode, coordinate_transformation_mode: 'asymmetric', ...(c.nearest ? { nearest_mode: c.nearest } : {}) });
        const [want, got] = [await output(before), await output(m)];
        expect(got.dims).toEqual(want.dims);
        expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(Buffer.from(want.data.buffer, want.data.byteOffset, want.data.byteLength))).toBe(true);
      });
    }

    it('refuses a nearest resize that enlarges one axis and shrinks another, or whose scales come at run time; linear with run-time scales is fine', () => {
      expect(() => upgradeOpset(resizeModel('Resize', 10, 'nearest', [1, 1, 2, 0.6], 'initializer'), 11)).toThrow(/Resize 'resize': nearest with scales \[1, 1, 2, 0.6000000238418579\] enlarges some axes and shrinks others/);
      const runtime = (mode: string) => {
        const m = resizeModel('Upsample', 9, mode, [1, 1, 2, 2], 'initializer');
        m.graph!.initializer.length = 0;
        m.graph!.input.push(makeValueInfo('scales', 'float32', [4]));
        return m;
      };
      expect(() => upgradeOpset(runtime('nearest'), 11)).toThrow(/Upsample 'resize': its scales 'scales' are computed at run time/);
      const linear = runtime('linear');
      expect(upgradeOpset(linear, 11).rewritten).toHaveLength(1);
      expect(linear.graph!.node.at(-1)!.input[2]).toBe('scales');
      expect(() => upgradeOpset(resizeModel('Upsample', 9, 'nearest', [1, 1, 2, 2], 'initializer'), 10)).toThrow(/only be rewritten as Resize-11, above the target opset 10/);
    });
  });
});

