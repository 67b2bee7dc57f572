import { closeSync, constants, openSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { create } from '@bufbuild/protobuf';
import type { GraphProto, ModelProto, TensorProto } from 'onnx-buf';
import { StringStringEntryProtoSchema } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { subgraphsOf } from '../../formats/onnx/attributes.js';
import { decodeModel, encodeModel } from '../../formats/onnx/model.js';
import type { ExternalDataRef } from '../../formats/onnx/tensor.js';
import { isExternal, tensorBytes } from '../../formats/onnx/tensor.js';
import { oneLine } from '../../formats/one-line.js';
import { OutputSet } from '../fs/atomic-file.js';
import { describeFsError } from '../fs/fs-error.js';

/** Every graph of a model: the main graph and, depth first, the graphs carried by node attributes. */
function graphsOf(model: ModelProto): GraphProto[] {
  const out: GraphProto[] = [];
  const visit = (g: GraphProto): void => {
    out.push(g);
    for (const n of g.node) for (const s of subgraphsOf(n)) visit(s);
  };
  if (model.graph) visit(model.graph);
  return out;
}

/** Initializers and Constant-node tensors of every graph: the tensors that may hold external data. */
function tensorsOf(model: ModelProto): TensorProto[] {
  const out: TensorProto[] = [];
  for (const g of graphsOf(model)) {
    out.push(...g.initializer);
    for (const n of g.node) for (const a of n.attribute) {
      if (a.t) out.push(a.t);
      out.push(...a.tensors);
    }
  }
  return out;
}

/** An external location must be a relative path inside the model's directory (as the ONNX checker requires). */
function externalPath(modelPath: string, ref: ExternalDataRef, tensor: string): string {
  const rel = normalize(ref.location);
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new QuantError('MALFORMED_FILE', `tensor '${oneLine(tensor)}' points at external data '${oneLine(ref.location)}': expected a path relative to the model's directory, inside it`);
  }
  return join(dirname(modelPath), rel);
}

/**
 * Reads an ONNX model and the external data files its tensors refer to (paths relative to the
 * model's directory). External tensors are loaded into raw_data, so the model in memory is self
 * contained; saveModel can write them out again. A missing or short data file is an IO_ERROR or
 * MALFORMED_FILE naming the tensor and the file.
 */
export function loadModel(path: string): ModelProto {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read '${path}': ${describeFsError(e)}`, { cause: e });
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    if (e instanceof QuantError) throw new QuantError(e.code, `'${path}': ${e.message}`, { cause: e.cause ?? e });
    throw e;
  }
  const fds = new Map<string, number>();
  try {
    for (const t of tensorsOf(model)) {
      if (!isExternal(t)) continue;
      const loader = (ref: ExternalDataRef): Uint8Array => {
        const file = externalPath(path, ref, t.name);
        let fd = fds.get(file);
        if (fd === undefined) {
          try {
            // Non-blocking, so a FIFO planted as a data file is refused instead of waiting for a writer.
            fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
          } catch (e) {
            throw new QuantError('IO_ERROR', `tensor '${oneLine(t.name)}' of '${path}' is stored in '${oneLine(ref.location)}', which cannot be read: ${describeFsError(e)}`, { cause: e });
          }
          fds.set(file, fd);
        }
        const cannotRead = (e: unknown) =>
          new QuantError('IO_ERROR', `tensor '${oneLine(t.name)}' of '${path}' is stored in '${oneLine(ref.location)}', which cannot be read: ${describeFsError(e)}`, { cause: e });
        const stat = fstatSync(fd);
        // A directory opens fine and fails only when read; a FIFO would block the read for ever.
        if (!stat.isFile()) throw cannotRead(stat.isDirectory() ? Object.assign(new Error('is a directory'), { code: 'EISDIR' }) : new Error('not a regular file'));
        const size = stat.size;
        // Without a length the tensor runs to the end: an offset past it is as wrong as a length past it.
        const length = ref.length ?? Math.max(0, size - ref.offset);
        if (ref.offset + length > size) {
          throw new QuantError('MALFORMED_FILE', `tensor '${oneLine(t.name)}' needs bytes ${ref.offset}..${ref.offset + length} of '${oneLine(ref.location)}', which has ${size}`);
        }
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          let n: number;
          try {
            n = readSync(fd, out, done, length - done, ref.offset + done);
          } catch (e) {
            throw cannotRead(e);
          }
          if (n === 0) break;
          done += n;
        }
        return out;
      };
      t.rawData = tensorBytes(t, loader) as Uint8Array<ArrayBuffer>;
      // proto2 presence is an own property: deleting it makes data_location absent, not an explicit DEFAULT.
      delete (t as Partial<TensorProto>).dataLocation;
      t.externalData = [];
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  return model;
}

export interface SaveModelOptions {
  /**
   * Write initializers to a side file `<model file>.data` next to the model: true for those of at
   * least 1024 bytes (ONNX's default threshold), or { threshold } in bytes. Required for models
   * over 2 GiB (protobuf's limit). Default false: one self-contained file.
   */
  readonly externalData?: boolean | { readonly threshold: number };
}

/** Tensors of at least this many bytes start at a page boundary in the data file, so runtimes can map them. */
const PAGE_ALIGN_BYTES = 1 << 20;

/**
 * Writes a model atomically (the model and its data file appear together or not at all). With
 * externalData the model in memory is left unchanged: tensors are redirected only while encoding.
 * Returns the paths written.
 */
export function saveModel(path: string, model: ModelProto, options: SaveModelOptions = {}): string[] {
  const ext = options.externalData;
  if (!ext) {
    const set = new OutputSet();
    try {
      set.create(path).write(encodeModel(model));
      set.commit();
    } catch (e) {
      set.abort();
      throw e;
    }
    return [path];
  }
  const threshold = ext === true ? 1024 : ext.threshold;
  if (!Number.isSafeInteger(threshold) || threshold < 0) throw new QuantError('INVALID_ARGUMENT', `external data threshold must be a non-negative integer of bytes, got ${threshold}`);
  const location = `${basename(path)}.data`;
  const dataPath = join(dirname(path), location);
  const set = new OutputSet();
  const saved: Saved[] = [];
  try {
    const data = set.create(dataPath);
    const modelFile = set.create(path);
    for (const g of graphsOf(model)) {
      for (const t of g.initializer) {
        if (isExternal(t) || t.rawData.length < threshold || t.rawData.length === 0) continue;
        const align = t.rawData.length >= PAGE_ALIGN_BYTES ? 4096 : 64;
        const pad = (align - (data.size % align)) % align;
        if (pad) data.write(new Uint8Array(pad));
        const offset = data.size;
        data.write(t.rawData);
        saved.push({ t, own: { ...t }, entries: t.externalData });
        redirect(t, { location, offset, length: t.rawData.length });
      }
    }
    modelFile.write(encodeModel(model));
    restore(saved);
    set.commit();
  } catch (e) {
    restore(saved);
    set.abort();
    throw e;
  }
  return [path, dataPath];
}

function redirect(t: TensorProto, ref: ExternalDataRef): void {
  const keep = t.externalData;
  t.rawData = new Uint8Array(0);
  t.dataLocation = 1;
  t.externalData = [...keep.filter((e) => e.key !== 'location' && e.key !== 'offset' && e.key !== 'length')];
  for (const [key, value] of [['location', ref.location], ['offset', String(ref.offset)], ['length', String(ref.length)]] as const) {
    t.externalData.push(create(StringStringEntryProtoSchema, { key, value }));
  }
}

/** A tensor's own properties before redirect: proto2 fields are present exactly when they are own properties, so restoring them restores the bytes. */
interface Saved {
  t: TensorProto;
  own: Partial<TensorProto>;
  entries: TensorProto['externalData'];
}

function restore(saved: Saved[]): void {
  for (const s of saved.splice(0)) {
    const t = s.t as Partial<TensorProto>;
    for (const key of ['rawData', 'dataLocation'] as const) {
      if (Object.prototype.hasOwnProperty.call(s.own, key)) (t as Record<string, unknown>)[key] = s.own[key];
      else delete t[key];
    }
    s.t.externalData = s.entries;
  }
}
