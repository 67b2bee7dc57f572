// Node adapters: files (.npy streamed, .safetensors tensor by tensor, ONNX with external data), worker
// threads and onnxruntime-node.
export { NpyFileReader } from './npy/npy-file-reader.js';
export { quantizeNpyFile, fakeQuantizeNpyFile } from './npy/quantize-npy-file.js';
export { dequantizeNpyFile } from './npy/dequantize-npy-file.js';
export { inspectNpyFile } from './npy/inspect-npy-file.js';
export { encodeParamsFileFor, paramsFileFormat, readParamsFile } from './params/params-files.js';
export { SafetensorsFileReader } from './safetensors/safetensors-file.js';
export { dequantizeSafetensorsFile, fakeQuantizeSafetensorsFile, quantizeSafetensorsFile, selectTensors } from './safetensors/safetensors-quantize.js';
export { inspectSafetensorsFile } from './safetensors/inspect-safetensors-file.js';
export { loadModel, saveModel } from './onnx/onnx-file.js';
export { readCpuFeatures } from './onnx/cpu-features.js';
export { createOrtRunner } from './onnx/ort-runner.js';
export { readCalibrationDir, calibrationHooks } from './onnx/calibration-data.js';
export { compareModelFiles, measureLatency } from './onnx/onnx-compare-runner.js';
export { loadMetricModule, readLabels } from './onnx/metric-module.js';
export { installUninitializedOutputs } from './uninitialized-outputs.js';
export { openGgufFile, GgufFileWriter, quantizeGgufFile, dequantizeGgufFile, readImatrixFile, convertGgufTensors } from './gguf/index.js';
