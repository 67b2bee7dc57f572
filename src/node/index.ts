// Node adapters: files (.npy streamed, .safetensors tensor by tensor, ONNX with external data), worker
// threads and onnxruntime-node.
export { NpyFileReader } from './npy-file-reader.js';
export { quantizeNpyFile, fakeQuantizeNpyFile } from './quantize-npy-file.js';
export { dequantizeNpyFile } from './dequantize-npy-file.js';
export { inspectNpyFile } from './inspect-npy-file.js';
export { encodeParamsFileFor, paramsFileFormat, readParamsFile } from './params-files.js';
export { SafetensorsFileReader } from './safetensors-file.js';
export { dequantizeSafetensorsFile, fakeQuantizeSafetensorsFile, quantizeSafetensorsFile, selectTensors } from './safetensors-quantize.js';
export { inspectSafetensorsFile } from './inspect-safetensors-file.js';
export { loadModel, saveModel } from './onnx-file.js';
export { readCpuFeatures } from './cpu-features.js';
export { createOrtRunner } from './ort-runner.js';
export { readCalibrationDir, calibrationHooks } from './calibration-data.js';
export { compareModelFiles, measureLatency } from './onnx-compare-runner.js';
export { loadMetricModule, readLabels } from './metric-module.js';
export { installUninitializedOutputs } from './uninitialized-outputs.js';
