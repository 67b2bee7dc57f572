import type { CliCommand } from '../cli-command.js';
import { table, toJson } from '../format-table.js';
import type { GgufHeader } from '../../formats/gguf/gguf-header.js';
import type { GgufValue } from '../../formats/gguf/gguf-value.js';
import { ggufValueToJson } from '../../formats/gguf/gguf-value.js';
import { oneLine } from '../../formats/one-line.js';

/** Arrays longer than this show their first items only (a vocabulary holds 150,000 strings). */
const ARRAY_HEAD = 16;

/** The shortest decimal that reads back as the same float32 (1e-5, not 0.000009999999747378752). */
function shortestF32(x: number): string {
  for (let p = 1; p < 10; p++) {
    const d = Number(x.toPrecision(p));
    if (Math.fround(d) === x) return String(d);
  }
  return String(x);
}

function showValue(v: GgufValue): string {
  if (v.type === 'array') {
    const n = v.value.length;
    const items = Array.from(v.value as ArrayLike<unknown>).slice(0, 8).map((x) => (typeof x === 'string' ? JSON.stringify(x) : typeof x === 'object' && x !== null ? '[...]' : String(x)));
    return oneLine(`[${v.itemType} x ${n}] ${items.join(', ')}${n > 8 ? ', ...' : ''}`);
  }
  const text = v.type === 'string' ? JSON.stringify(v.value) : v.type === 'f32' ? shortestF32(v.value) : String(v.value);
  return oneLine(text.length > 100 ? `${text.slice(0, 97)}...` : text);
}

function jsonValue(v: GgufValue): unknown {
  if (v.type !== 'array' || v.value.length <= ARRAY_HEAD) return { type: v.type === 'array' ? `array<${v.itemType}>` : v.type, value: ggufValueToJson(v) };
  const head = { ...v, value: v.value.slice(0, ARRAY_HEAD) } as GgufValue;
  return { type: `array<${v.itemType}>`, length: v.value.length, head: ggufValueToJson(head) };
}

/** What `gguf inspect` reports: per tensor its type, bytes and bits per weight, and per type the totals. */
export function ggufInspection(path: string, size: number, h: GgufHeader) {
  const tensors = h.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type.name, elements: t.elements, bytes: t.byteLength, bitsPerWeight: t.elements ? (8 * t.byteLength) / t.elements : 0 }));
  const types = new Map<string, { tensors: number; elements: number; bytes: number }>();
  for (const t of tensors) {
    const e = types.get(t.type) ?? { tensors: 0, elements: 0, bytes: 0 };
    e.tensors++;
    e.elements += t.elements;
    e.bytes += t.bytes;
    types.set(t.type, e);
  }
  const elements = tensors.reduce((s, t) => s + t.elements, 0);
  const bytes = tensors.reduce((s, t) => s + t.bytes, 0);
  return {
    path,
    fileBytes: size,
    version: h.version,
    alignment: h.alignment,
    dataOffset: Number(h.dataOffset),
    metadata: Object.fromEntries([...h.metadata].map(([k, v]) => [k, jsonValue(v)])),
    tensors,
    types: Object.fromEntries(types),
    elements,
    tensorBytes: bytes,
    bitsPerWeight: elements ? (8 * bytes) / elements : 0,
  };
}

function formatInspection(r: ReturnType<typeof ggufInspection>, h: GgufHeader): string {
  const mb = (b: number) => (b / 1e6).toFixed(2);
  const lines = [
    `${r.path}: GGUF v${r.version}, ${r.tensors.length} tensors, ${h.metadata.size} keys, ${mb(r.fileBytes)} MB (alignment ${r.alignment}, data at byte ${r.dataOffset})`,
    `${r.elements.toLocaleString('en-US')} weights in ${mb(r.tensorBytes)} MB: ${r.bitsPerWeight.toFixed(2)} bits per weight`,
    '',
    'metadata:',
    ...[...h.metadata].map(([k, v]) => `  ${oneLine(k)} = ${showValue(v)}`),
    '',
    'types:',
    table([['type', 'tensors', 'weights', 'MB', 'bpw'], ...Object.entries(r.types).map(([t, e]) => [t, String(e.tensors), String(e.elements), mb(e.bytes), ((8 * e.bytes) / Math.max(1, e.elements)).toFixed(2)])])
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
    '',
    'tensors:',
    table([['name', 'dims', 'type', 'bytes', 'bpw'], ...r.tensors.map((t) => [oneLine(t.name), `[${t.dims.join(', ')}]`, t.type, String(t.bytes), t.bitsPerWeight.toFixed(2)])])
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  ];
  return `${lines.join('\n')}\n`;
}

export const ggufInspectCommand: CliCommand = {
  name: 'inspect',
  register(group, io) {
    group
      .command('inspect')
      .description('metadata, tensors, their ggml types, sizes and bits per weight')
      .argument('<model>', 'input .gguf (only the header is read)')
      .option('--json', `print one JSON object (arrays of more than ${ARRAY_HEAD} items as their length and first ${ARRAY_HEAD})`)
      .addHelpText(
        'after',
        `
Examples:
  quantkit gguf inspect model.Q4_K_M.gguf
  quantkit gguf inspect model.Q4_K_M.gguf --json`,
      )
      .action(async (input: string, o: { json?: boolean }) => {
        const { openGgufFile } = await import('../../node/gguf/gguf-file.js');
        const f = openGgufFile(input);
        try {
          const r = ggufInspection(input, f.size, f.header);
          io.stdout.write(o.json ? `${toJson(r)}\n` : formatInspection(r, f.header));
        } finally {
          f.close();
        }
      });
  },
};
