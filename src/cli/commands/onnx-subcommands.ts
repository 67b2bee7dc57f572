import type { CliCommand } from '../cli-command.js';
import { onnxCompareCommand } from './onnx-compare.js';
import { onnxQuantizeCommand } from './onnx-quantize.js';
import { onnxSensitivityCommand } from './onnx-sensitivity.js';

/**
 * The subcommands of `quantkit onnx`, in help order. Each registers itself on the `onnx` group
 * (the Command passed to register); adding one is its own file and one line here.
 */
export const ONNX_SUBCOMMANDS: readonly CliCommand[] = [onnxQuantizeCommand, onnxCompareCommand, onnxSensitivityCommand];
