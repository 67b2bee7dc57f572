import { describe, expect, it } from 'vitest';
import { latencyAdvice, quantizedForms } from '../../src/onnx/analysis/latency-advice.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { convModel, mlpModel } from './models.js';

describe('latencyAdvice: one line when a quantized model is slower than its mode should be', () => {
  it('dynamic with ConvInteger: names them and suggests leaving Conv float or weight-only', async () => {
    const { model } = await quantizeModel(convModel(), { mode: 'dynamic', opTypes: ['Conv'] });
    expect(quantizedForms(model)).toEqual({ mode: 'dynamic', convInteger: 1, constantDequantize: 0 });
    expect(latencyAdvice(model, 3.2)).toBe(
      "the dynamic candidate runs 3.20x the reference's latency (goal <= 1x): its 1 ConvInteger nodes have no fused kernel in onnxruntime; try --mode dynamic --op-types MatMul,Gemm,LSTM (Conv left float) or --mode weight-only",
    );
    expect(latencyAdvice(model, 0.95)).toBeUndefined();
  });

  it('weight-only: DequantizeLinear on constant weights suggests the Cast+Mul form; Cast+Mul itself above the goal is called noise', async () => {
    const { model: dq } = await quantizeModel(mlpModel(), { int8Form: 'dequantize-linear' });
    expect(quantizedForms(dq)).toMatchObject({ mode: 'weight-only', constantDequantize: 2 });
    expect(latencyAdvice(dq, 1.5)).toMatch(/runs its 2 DequantizeLinear on constant weights every inference; try --int8-form cast-mul/);
    const { model: cm } = await quantizeModel(mlpModel());
    expect(latencyAdvice(cm, 1.05)).toBeUndefined();
    expect(latencyAdvice(cm, 1.3)).toMatch(/likely timing noise/);
  });

  it('says nothing about a float model, or a dynamic MatMul model within its goal', async () => {
    expect(latencyAdvice(mlpModel(), 5)).toBeUndefined();
    const { model } = await quantizeModel(mlpModel(), { mode: 'dynamic' });
    expect(latencyAdvice(model, 1)).toBeUndefined();
    expect(latencyAdvice(model, 1.4)).toMatch(/activations are quantized on every run/);
  });
});
