import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { ModelProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';

export type {
  AttributeProto,
  FunctionProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  StringStringEntryProto,
  TensorProto,
  TypeProto,
  ValueInfoProto,
} from 'onnx-buf';

/**
 * Decodes an ONNX ModelProto (the current schema, with INT4 and FP8). Unknown fields are kept and
 * written back by encodeModel, as are opset imports, metadata and custom-domain nodes, so a
 * decode + encode of an untouched model is byte-identical.
 *
 * Bytes that are not a model (a truncated file, another format, a model without an IR version or
 * graph) throw QuantError('MALFORMED_FILE') with the protobuf error attached as cause.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new QuantError('MALFORMED_FILE', 'not an ONNX model: expected a ModelProto, got an empty file');
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new QuantError('MALFORMED_FILE', `not an ONNX model: expected a protobuf ModelProto, got bytes that do not decode (${why})`, { cause: e });
  }
  // Protobuf decodes many foreign byte streams into an "empty" message of unknown fields: a model
  // has an IR version and a graph.
  if (model.irVersion <= 0n || model.graph === undefined) {
    const missing = model.irVersion <= 0n ? 'ir_version' : 'graph';
    throw new QuantError('MALFORMED_FILE', `not an ONNX model: expected a ModelProto with ir_version and graph, got one without ${missing}`);
  }
  return model;
}

/** Encodes a ModelProto (unknown fields included) to protobuf bytes. Protobuf caps a message at 2 GiB: larger models need external data (see saveModel). */
export function encodeModel(model: ModelProto): Uint8Array {
  try {
    return toBinary(ModelProtoSchema, model);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new QuantError('INVALID_ARGUMENT', `cannot encode the model: ${why} (models over 2 GiB need external data)`, { cause: e });
  }
}
