import { QuantError } from '../../core/errors.js';
import { oneLine } from '../one-line.js';
import type { GgufHeader, GgufTensorInfo } from './gguf-header.js';

/**
 * llama.cpp importance matrices as llama-quantize hands them to the quantizers: per weight tensor
 * name, one value per column (per expert, for expert tensors), the mean of the squared
 * activations that column saw. Both file forms keep sums and counts; the mean is sums / count in
 * float32, as llama-quantize's load_imatrix computes it.
 */
export type ImatrixData = Map<string, Float32Array>;

function malformed(message: string): QuantError {
  return new QuantError('MALFORMED_FILE', `imatrix: ${oneLine(message)}`);
}

/**
 * The legacy `.dat` form: i32 entry count, then per entry i32 name length, the name, i32 ncall,
 * i32 value count, that many f32 sums; optionally i32 chunk count and the dataset's name after.
 * Values are sums / ncall (sums as they are when ncall is 0).
 */
export function decodeLegacyImatrix(bytes: Uint8Array): ImatrixData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const i32 = (what: string) => {
    if (pos + 4 > bytes.length) throw malformed(`the file ends at byte ${bytes.length} inside ${what}`);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const n = i32('the entry count');
  if (n < 1) throw malformed(`the entry count is ${n}: no data`);
  const out: ImatrixData = new Map();
  const decoder = new TextDecoder();
  for (let i = 0; i < n; i++) {
    const len = i32(`the name length of entry ${i}`);
    if (len < 0 || pos + len > bytes.length) throw malformed(`entry ${i}: a name of ${len} bytes does not fit the file`);
    const raw = bytes.subarray(pos, pos + len);
    pos += len;
    // llama.cpp reads the name as a C string: it ends at the first zero byte.
    const zero = raw.indexOf(0);
    const name = decoder.decode(zero < 0 ? raw : raw.subarray(0, zero));
    const ncall = i32(`the call count of '${name}'`);
    const nval = i32(`the value count of '${name}'`);
    if (nval < 1 || pos + nval * 4 > bytes.length) throw malformed(`entry '${name}': ${nval} values do not fit the file`);
    // A copy through the Uint8Array constructor: a Buffer's slice() would be a view of its shared pool.
    const sums = new Float32Array(new Uint8Array(bytes.subarray(pos, pos + nval * 4)).buffer);
    pos += nval * 4;
    if (ncall > 0) {
      const c = Math.fround(ncall);
      for (let j = 0; j < nval; j++) sums[j] = sums[j]! / c;
    }
    out.set(name, sums);
  }
  return out;
}

/**
 * The GGUF form llama-imatrix writes: tensors NAME.in_sum2 (sums, F32) and NAME.counts (one
 * count per expert, F32), and keys imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size.
 * Values are sums / round(count) per expert, 1 where the count is 0. `read` returns a tensor's bytes.
 */
export function imatrixFromGguf(header: GgufHeader, read: (t: GgufTensorInfo) => Uint8Array): ImatrixData {
  if (header.tensors.length === 0) throw malformed('the file holds no tensors');
  for (const key of ['imatrix.datasets', 'imatrix.chunk_count', 'imatrix.chunk_size']) {
    if (!header.metadata.has(key)) throw malformed(`key ${key} is missing: not an importance matrix written by llama-imatrix`);
  }
  const pairs = new Map<string, { sums?: GgufTensorInfo; counts?: GgufTensorInfo }>();
  for (const t of header.tensors) {
    for (const suffix of ['.in_sum2', '.counts'] as const) {
      if (t.name.endsWith(suffix) && t.name.length > suffix.length) {
        const name = t.name.slice(0, -suffix.length);
        const p = pairs.get(name) ?? {};
        if (suffix === '.in_sum2') p.sums = t;
        else p.counts = t;
        pairs.set(name, p);
      }
    }
  }
  const out: ImatrixData = new Map();
  for (const [name, p] of pairs) {
    if (!p.sums || !p.counts) throw malformed(`'${name}' has ${p.sums ? 'sums but no counts' : 'counts but no sums'}`);
    if (p.sums.type.name !== 'F32' || p.counts.type.name !== 'F32') throw malformed(`the sums and counts of '${name}' must be F32`);
    const ncounts = p.counts.elements;
    if (ncounts === 0 || p.sums.elements % ncounts !== 0) throw malformed(`'${name}': ${p.sums.elements} sums do not split into ${ncounts} experts`);
    const sums = new Float32Array(new Uint8Array(read(p.sums)).buffer, 0, p.sums.elements);
    const counts = new Float32Array(new Uint8Array(read(p.counts)).buffer, 0, ncounts);
    const ne0 = p.sums.elements / ncounts;
    const values = new Float32Array(p.sums.elements);
    for (let j = 0; j < ncounts; j++) {
      // std::lround: halves away from zero.
      const c = Math.fround(Math.sign(counts[j]!) * Math.round(Math.abs(counts[j]!)));
      for (let i = 0; i < ne0; i++) values[j * ne0 + i] = c > 0 ? sums[j * ne0 + i]! / c : 1;
    }
    out.set(name, values);
  }
  return out;
}
