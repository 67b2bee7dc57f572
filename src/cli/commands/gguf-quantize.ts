import type { CliCommand } from '../cli-command.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { toJson } from '../format-table.js';
import { checkOutputPaths } from '../output-paths.js';
import { createProgress } from '../progress.js';
import { ggmlTypeNamed } from '../../formats/gguf/ggml-type-named.js';
import { LLAMA_MIX_NAMES } from '../../formats/gguf/llama-quant-plan.js';
import type { LlamaMix } from '../../formats/gguf/llama-quant-plan.js';
import type { QuantizeGgufReport } from '../../node/gguf/quantize-gguf-file.js';

interface Raw {
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

async function run(input: string, o: Raw, io: CliIo): Promise<void> {
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

export const ggufQuantizeCommand: CliCommand = {
  name: 'quantize',
  register(group, io) {
    group
      .command('quantize')
      .description("quantize a GGUF model to one of llama.cpp's mixes, byte for byte what llama-quantize writes")
      .argument('<model>', 'input .gguf (F32, F16 or BF16 weights)')
      .requiredOption('-o, --output <path>', 'output .gguf (written atomically)')
      .requiredOption('--type <mix>', `llama.cpp's mix, any case (per-tensor types chosen by its rules): ${LLAMA_MIX_NAMES.join(', ')}`)
      .option('--imatrix <file>', 'importance matrix from llama-imatrix (GGUF or legacy .dat)')
      .option('--leave-output-tensor', 'leave output.weight as it is')
      .option('--pure', "every quantized tensor gets the mix's own type: no per-tensor rules")
      .option('--output-tensor-type <type>', 'ggml type for output.weight')
      .option('--token-embedding-type <type>', 'ggml type for token_embd.weight')
      .option('--allow-requantize', 'let already quantized tensors be dequantized and quantized again')
      .option('--json', 'print the report as JSON')
      .option('--force', 'let -o replace the input')
      .addHelpText(
        'after',
        `
The mixes are llama.cpp's: Q4_K_M gives attn_v and half the ffn_down layers Q6_K and the rest
Q4_K, output.weight Q6_K; norms and other 1-D tensors stay F32; a tensor whose rows are not whole
blocks of its type takes llama.cpp's fallback (Q4_K -> Q5_0, Q6_K -> Q8_0, ... or F16).

Examples:
  quantkit gguf quantize model.f16.gguf -o model.Q4_K_M.gguf --type Q4_K_M
  quantkit gguf quantize model.f16.gguf -o model.IQ4_XS.gguf --type IQ4_XS --imatrix imatrix.gguf`,
      )
      .action(async (input: string, raw: Raw) => run(input, raw, io));
  },
};
