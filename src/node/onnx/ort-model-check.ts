import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { encodeModel } from '../../formats/onnx/model.js';

/** What onnxruntime said about a model: it loads, or why not (one line). */
export type OrtVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Longest reason kept from onnxruntime's message (its messages can run to kilobytes of graph dump). */
const MAX_REASON = 400;
const REJECTED = 3;

// Runs in a child process: onnxruntime-node aborts the whole process on some models (see
// ort-runner.ts), which no try/catch can stop, and the model is hostile input until it has loaded;
// a child's abort is only an exit status here.
const CHILD = `
const ort = require(process.argv[1]);
const src = process.argv[2];
const load = src === '-' ? require('node:fs').readFileSync(0) : src;
ort.InferenceSession.create(load, { graphOptimizationLevel: 'disabled' })
  .then((s) => s.release())
  .then(() => process.exit(0), (e) => { process.stderr.write(String((e && e.message) || e)); process.exit(${REJECTED}); });
`;

function oneLine(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON)}...` : line;
}

/**
 * Whether onnxruntime-node can create an InferenceSession for a model: its file (external data is
 * then resolved beside it) or its encoded bytes (self-contained). The session is created, not run,
 * with graph optimizations off, in a child process so that a model onnxruntime aborts on cannot take
 * this process down with it.
 */
export function checkModelWithOrt(model: { readonly path: string } | { readonly bytes: Uint8Array }): Promise<OrtVerdict> {
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const fromBytes = 'bytes' in model;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', CHILD, ortPath, fromBytes ? '-' : model.path], {
      stdio: [fromBytes ? 'pipe' : 'ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.on('error', (e) => reject(new QuantError('IO_ERROR', `cannot start onnxruntime to check the model: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ ok: true });
      else if (code === REJECTED) resolve({ ok: false, reason: oneLine(stderr) || 'no reason given' });
      else resolve({ ok: false, reason: `onnxruntime crashed loading it (${signal ?? `exit ${code}`})${stderr ? `: ${oneLine(stderr)}` : ''}` });
    });
    if (fromBytes) {
      // EPIPE when the child dies early is reported by 'close' with its status.
      child.stdin!.on('error', () => {});
      child.stdin!.end(model.bytes);
    }
  });
}

/**
 * Refuses an input model onnxruntime cannot load: quantizing it would write a model no runtime
 * runs, and exit 0 on it. `path` is the model file (external data beside it).
 */
export async function assertInputModelLoads(path: string): Promise<void> {
  const v = await checkModelWithOrt({ path });
  if (!v.ok) throw new QuantError('MALFORMED_FILE', `'${path}' is not a model onnxruntime can load, so it was not quantized: ${v.reason}`);
}

/**
 * Refuses a quantized model onnxruntime cannot load, before it is written: checked from its
 * encoding in memory (self-contained, so below protobuf's 2 GiB; a larger model, which only external
 * data can hold, is not checked here).
 */
export async function assertOutputModelLoads(model: ModelProto, output: string): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = encodeModel(model);
  } catch {
    return;
  }
  const v = await checkModelWithOrt({ bytes });
  if (!v.ok) throw new QuantError('UNSUPPORTED', `the quantized model is not one onnxruntime can load, so '${output}' was not written: ${v.reason}`);
}
