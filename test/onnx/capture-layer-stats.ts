import type { ModelProto } from 'onnx-buf';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import type { LayerStats } from '../../src/onnx/modes/weight-only/layer-stats.js';
import { calibrateWeightLayers } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import type { WeightLayer } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import type { TensorMap } from '../../src/onnx/run-model.js';

/**
 * Calibrates `layers` through onnxruntime in one pass (not sequential) and keeps, by each layer's
 * first weight name, the statistics calibration handed to quantization, without quantizing:
 * what the calibration suites compare against statistics computed from the definition.
 */
export async function captureLayerStats(model: ModelProto, layers: readonly WeightLayer[], data: () => TensorMap[], opts: { hessian: boolean }) {
  const stats = new Map<string, readonly LayerStats[]>();
  const { sources } = await calibrateWeightLayers(model, layers, {
    runModel: createOrtRunner(),
    data,
    hessian: opts.hessian,
    sample: false,
    sequential: false,
    quantizeLayer: (l, s) => {
      stats.set(l.weights[0]!.name, s);
      return [];
    },
  });
  return { stats, sources };
}
