import { readFileSync } from 'node:fs';
import { arch, cpus } from 'node:os';
import type { CpuDescription } from '../../onnx/target.js';

/**
 * This machine's CPU as quantkit needs it to warn about integer kernels: Node's architecture,
 * the first processor's flags from /proc/cpuinfo (Linux; undefined elsewhere or when unreadable)
 * and the model name. Read to warn only: quantization never depends on it.
 */
export function readCpuFeatures(cpuinfo = '/proc/cpuinfo'): CpuDescription {
  const model = cpus()[0]?.model?.trim();
  let flags: Set<string> | undefined;
  try {
    const text = readFileSync(cpuinfo, 'utf8');
    const line = /^(?:flags|Features)\s*:(.*)$/m.exec(text);
    if (line) flags = new Set(line[1]!.trim().toLowerCase().split(/\s+/).filter(Boolean));
  } catch {
    flags = undefined;
  }
  return { arch: arch(), ...(flags && { flags }), ...(model && { model }) };
}
