import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { toJson } from '../format-table.js';
import { checkOutputPaths } from '../output-paths.js';
import { createProgress } from '../progress.js';
import { ggmlTypeNamed } from '../../formats/gguf/ggml-type-named.js';
import { LLAMA_MIX_NAMES } from '../../formats/gguf/llama-mixes.js';
import type { LlamaMix } from '../../formats/gguf/llama-mixes.js';
import type { QuantizeGgufReport } from '../../node/gguf/quantize-gguf-file.js';

/** The options commander parses for `gguf quantize`. */
export interface GgufQuantizeRaw {
  output: string;
  type: string;
  imatrix?: string;
  leaveOutputTensor?: boolean;
  pure?: boolean;
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  allowRequantize?: boolean;
  json?: boolean;
  force?: boolean;
}

function typeOption(flag: string, name: string | undefined) {
  if (name === undefined) return undefined;
  const t = ggmlTypeNamed(name);
  if (t === undefined) throw new UsageError(`${flag} '${name}' is not a ggml type (e.g. Q8_0, Q6_K, F16)`);
  return t;
}

/** Bits per weight: the file's tensor bytes over its values. */
export const bitsPerWeight = (bytes: number, elements: number): number => (elements === 0 ? 0 : (8 * bytes) / elements);

function summary(r: QuantizeGgufReport, input: string, output: string, seconds: number): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const quantized = r.tensors.filter((t) => t.from !== t.to);
  const lines = [
    `${input} -> ${output}: ${r.mix}, ${quantized.length} of ${r.tensors.length} tensors converted in ${seconds.toFixed(2)} s`,
    `tensors ${mb(r.bytesBefore)} (${bitsPerWeight(r.bytesBefore, r.elements).toFixed(2)} bpw) -> ${mb(r.bytesAfter)} (${bitsPerWeight(r.bytesAfter, r.elements).toFixed(2)} bpw)`,
  ];
  const byType = new Map<string, { n: number; bytes: number }>();
  for (const t of r.tensors) {
    const e = byType.get(t.to) ?? { n: 0, bytes: 0 };
    e.n++;
    e.bytes += t.bytesAfter;
    byType.set(t.to, e);
  }
  for (const [type, e] of [...byType].sort((a, b) => b[1].bytes - a[1].bytes)) lines.push(`  ${type.padEnd(7)} ${String(e.n).padStart(5)} tensors  ${mb(e.bytes)}`);
  const fallback = r.tensors.filter((t) => t.fallback);
  if (fallback.length) lines.push(`${fallback.length} tensor${fallback.length === 1 ? '' : 's'} took a fallback type (rows not whole blocks of the mix's type): ${fallback.map((t) => `${t.name} ${t.to}`).join(', ')}`);
  const withImatrix = r.tensors.filter((t) => t.imatrix).length;
  if (withImatrix) lines.push(`importance matrix used for ${withImatrix} tensors`);
  return `${lines.join('\n')}\n`;
}

/** `quantkit gguf quantize`: flags checked, the model quantized to the mix and written. */
export async function runGgufQuantize(input: string, o: GgufQuantizeRaw, io: CliIo): Promise<void> {
  const mix = o.type.toUpperCase() as LlamaMix;
  if (!LLAMA_MIX_NAMES.includes(mix)) throw new UsageError(`--type '${o.type}' is not a mix; one of ${LLAMA_MIX_NAMES.join(', ')}`);
  const outputTensorType = typeOption('--output-tensor-type', o.outputTensorType);
  const tokenEmbeddingType = typeOption('--token-embedding-type', o.tokenEmbeddingType);
  checkOutputPaths({ inputs: [input, ...(o.imatrix ? [o.imatrix] : [])], outputs: [{ path: o.output, format: 'gguf', flag: '-o' }], force: o.force });
  const [{ quantizeGgufFile }, { readImatrixFile }, { statSync }] = await Promise.all([
    import('../../node/gguf/quantize-gguf-file.js'),
    import('../../node/gguf/read-imatrix-file.js'),
    import('node:fs'),
  ]);
  const imatrix = o.imatrix === undefined ? undefined : readImatrixFile(o.imatrix);
  const started = performance.now();
  const progress = createProgress(io, 'quantize', statSync(input, { throwIfNoEntry: false })?.size ?? 0);
  let report: QuantizeGgufReport;
  try {
    report = quantizeGgufFile(input, o.output, {
      mix,
      ...(o.pure && { pure: true }),
      ...(o.leaveOutputTensor && { leaveOutputTensor: true }),
      ...(outputTensorType && { outputTensorType }),
      ...(tokenEmbeddingType && { tokenEmbeddingType }),
      ...(imatrix && { imatrix }),
      ...(o.allowRequantize && { allowRequantize: true }),
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  if (o.json) io.stdout.write(`${toJson({ input, output: o.output, seconds, ...report, bitsPerWeight: bitsPerWeight(report.bytesAfter, report.elements) })}\n`);
  else io.stdout.write(summary(report, input, o.output, seconds));
}
