import type { ModelProto } from 'onnx-buf';
import type { QuantizeMode, QuantizeOptions } from '../quantize-options.js';
import type { QuantizeReport } from '../quantize-report.js';
import type { QuantizeHooks } from '../run-model.js';

/** What a mode implementation receives. */
export interface QuantizeModeContext {
  /** A copy of the caller's model, owned by the mode: edit it (applyEdits) and return it. */
  readonly model: ModelProto;
  readonly options: QuantizeOptions;
  readonly hooks: QuantizeHooks;
  /** The model's default-domain opset, already checked against SUPPORTED_OPSETS. */
  readonly opset: number;
  /** Op types to quantize: options.opTypes, or the mode's defaultOpTypes. */
  readonly opTypes: ReadonlySet<string>;
}

/** One quantization mode (weight-only, dynamic, static), registered in quantize-modes.ts. */
export interface QuantizeModeImpl {
  readonly mode: QuantizeMode;
  /** Op types quantized when options.opTypes is not given. */
  readonly defaultOpTypes: readonly string[];
  /**
   * Why an op type that carries weights is left out of defaultOpTypes (the report's reason for
   * such nodes when options.opTypes is not given).
   */
  readonly notByDefault?: Readonly<Partial<Record<string, string>>>;
  quantize(ctx: QuantizeModeContext): Promise<{ model: ModelProto; report: QuantizeReport }>;
}
