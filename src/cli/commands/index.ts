import type { CliCommand } from '../cli-command.js';
import { calibrateCommand } from './calibrate.js';
import { dequantizeCommand } from './dequantize.js';
import { fakeQuantCommand } from './fake-quant.js';
import { inspectCommand } from './inspect.js';
import { onnxCommand } from './onnx.js';
import { quantizeCommand } from './quantize.js';
import { serveCommand } from './serve.js';

/** Every subcommand, in help order. Adding one is a file in this folder and a line here. */
export const COMMANDS: readonly CliCommand[] = [quantizeCommand, dequantizeCommand, fakeQuantCommand, calibrateCommand, inspectCommand, onnxCommand, serveCommand];
