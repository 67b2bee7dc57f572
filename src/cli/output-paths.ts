import { statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { checkOutputTarget } from '../node/fs/atomic-file.js';
import { UsageError } from './exit-codes.js';
import { isSafetensorsPath } from './safetensors-run.js';

/** The file formats the CLI writes, with the extension each must carry. */
export const OUTPUT_EXTENSIONS = {
  npy: '.npy',
  safetensors: '.safetensors',
  json: '.json',
  onnx: '.onnx',
  gguf: '.gguf',
} as const;
/** 'params': a parameters file, whose extension chooses its form (JSON text or the binary safetensors file). */
export type OutputFormat = keyof typeof OUTPUT_EXTENSIONS | 'params';
const PARAMS_EXTENSIONS: readonly string[] = [OUTPUT_EXTENSIONS.json, OUTPUT_EXTENSIONS.safetensors];

export interface OutputPath {
  readonly path: string;
  readonly format: OutputFormat;
  /** The option that named it, for the message ("-o", "--params-out"). */
  readonly flag: string;
}

export interface OutputCheck {
  /** Every file the command reads (the input, a parameters file...). */
  readonly inputs: readonly string[];
  readonly outputs: readonly OutputPath[];
  /** --force: an output may replace an input. */
  readonly force?: boolean;
}

/** dev:ino of an existing file (following symlinks), so a symlink or hard link to a file is that file. */
function identity(path: string): string | undefined {
  try {
    const st = statSync(path, { throwIfNoEntry: false, bigint: true });
    return st === undefined ? undefined : `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Checks a command's outputs before any work, each refusal one line:
 * - an output's extension must be its format's (`-o m.npy` for a safetensors output would be
 *   safetensors bytes under a .npy name);
 * - an output that exists must be a regular file (see checkOutputTarget);
 * - an output must not be one of the inputs (same file by device and inode: through a symlink or a
 *   hard link too), unless force: the input would be replaced by its own quantized codes;
 * - two outputs must not be one file (the second would silently replace the first).
 */
export function checkOutputPaths(check: OutputCheck): void {
  const seen = new Map<string, string>();
  const inputs = new Map<string, string>();
  for (const input of check.inputs) {
    const id = identity(input);
    if (id !== undefined) inputs.set(id, input);
  }
  for (const o of check.outputs) {
    const ext = extname(o.path).toLowerCase();
    const got = extname(o.path) || 'no extension';
    if (o.format === 'params') {
      if (!PARAMS_EXTENSIONS.includes(ext)) {
        throw new UsageError(`${o.flag} '${o.path}': the name chooses the parameters' form, so it must end in .json or .safetensors (got ${got}): JSON text, or the binary file for large parameters`);
      }
    } else if (ext !== OUTPUT_EXTENSIONS[o.format]) {
      throw new UsageError(`${o.flag} '${o.path}': the file written is ${o.format}, so its name must end in ${OUTPUT_EXTENSIONS[o.format]} (got ${got})`);
    }
    checkOutputTarget(o.path);
    const id = identity(o.path);
    if (id !== undefined && inputs.has(id) && !check.force) {
      const input = inputs.get(id)!;
      throw new UsageError(`${o.flag} '${o.path}' is the input ${input === o.path ? 'itself' : `'${input}'`}: writing it would replace the input (use --force to do so)`);
    }
    const key = id ?? `path:${resolve(o.path)}`;
    const other = seen.get(key);
    if (other !== undefined) throw new UsageError(`${other} and ${o.flag} name the same file '${o.path}'`);
    seen.set(key, o.flag);
  }
}

/**
 * The outputs of quantize, fake-quant and dequantize: -o (.npy, or .safetensors for a .safetensors
 * input) and --params-out (.json or .safetensors, .npy input only), against the input and --params.
 */
export function checkArrayCommandOutputs(input: string, opts: { readonly output: string; readonly params?: string; readonly paramsOut?: string; readonly force?: boolean }): void {
  const safetensors = isSafetensorsPath(input);
  const outputs: OutputPath[] = [{ path: opts.output, format: safetensors ? 'safetensors' : 'npy', flag: '-o' }];
  // A safetensors run refuses --params-out itself, with the reason.
  if (opts.paramsOut !== undefined && !safetensors) outputs.push({ path: opts.paramsOut, format: 'params', flag: '--params-out' });
  checkOutputPaths({ inputs: opts.params === undefined ? [input] : [input, opts.params], outputs, force: opts.force });
}
