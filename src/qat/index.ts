// quantkit/qat: quantization-aware training on TensorFlow.js (an optional peer dependency):
// prepareQat inserts fake quantization, the user trains, convertQat writes the integer ONNX model.
export { parseQatConfig, weightScheme, activationScheme } from './qat-config.js';
export type { QatConfig, QatConfigInput, TensorScheme } from './qat-config.js';
export { fakeQuantizeSte, fakeQuantizeLsq } from './fake-quantize-tf.js';
export { TensorQuantizer } from './tensor-quantizer.js';
export type { LsqVariables } from './tensor-quantizer.js';
export { QatLayer, QatInputLayer } from './qat-layer.js';
export type { QatKind, QatLayerSpec, FusedActivation, BatchNormSpec } from './qat-layer.js';
export { prepareQat, qatLayers } from './prepare-qat.js';
export { calibrateQat, qatOptimizer, freezeObservers } from './qat-training.js';
export { convertQat, QAT_ONNX_OPSET } from './convert-qat.js';
export type { ConvertQatOptions, ConvertQatReport, ConvertedLayer, ConvertedTensor } from './convert-qat.js';
export { exportQuantizerParameters } from './export-qat-parameters.js';
export { conv2dJs, registerFastConv2dGradients } from './conv2d-js.js';
export { registerFastTrainingKernels } from './fast-cpu-kernels.js';
