import { create } from '@bufbuild/protobuf';
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from 'onnx-buf';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import type { OnnxDtype } from './onnx-dtypes.js';
import { onnxDtypeCode } from './onnx-dtypes.js';

/** An attribute value: numbers are INT when integral unless given as { float }, arrays likewise; a graph or tensor by its proto. */
export type AttributeValue =
  | number
  | { readonly float: number }
  | string
  | readonly number[]
  | { readonly floats: readonly number[] }
  | readonly string[]
  | TensorProto
  | GraphProto;

/** AttributeProto.AttributeType codes (onnx.proto). */
export const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;

const utf8 = new TextEncoder();

/**
 * One attribute. Integral numbers become INT and other numbers FLOAT; write { float: 1 } for a
 * FLOAT that happens to be integral. Example: makeAttribute('axis', 0), makeAttribute('alpha', { float: 1 }).
 */
export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  const a = create(AttributeProtoSchema, { name });
  if (typeof value === 'number') {
    if (Number.isInteger(value)) Object.assign(a, { type: ATTRIBUTE_TYPE.INT, i: BigInt(value) });
    else Object.assign(a, { type: ATTRIBUTE_TYPE.FLOAT, f: value });
  } else if (typeof value === 'string') {
    Object.assign(a, { type: ATTRIBUTE_TYPE.STRING, s: utf8.encode(value) });
  } else if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) Object.assign(a, { type: ATTRIBUTE_TYPE.STRINGS, strings: (value as string[]).map((v) => utf8.encode(v)) });
    else if (value.every((v) => Number.isInteger(v))) Object.assign(a, { type: ATTRIBUTE_TYPE.INTS, ints: (value as number[]).map((v) => BigInt(v)) });
    else Object.assign(a, { type: ATTRIBUTE_TYPE.FLOATS, floats: [...(value as number[])] });
  } else if ('float' in value) {
    Object.assign(a, { type: ATTRIBUTE_TYPE.FLOAT, f: value.float });
  } else if ('floats' in value) {
    Object.assign(a, { type: ATTRIBUTE_TYPE.FLOATS, floats: [...value.floats] });
  } else if ((value as TensorProto).$typeName === 'onnx.TensorProto') {
    Object.assign(a, { type: ATTRIBUTE_TYPE.TENSOR, t: value });
  } else if ((value as GraphProto).$typeName === 'onnx.GraphProto') {
    Object.assign(a, { type: ATTRIBUTE_TYPE.GRAPH, g: value });
  } else {
    throw new QuantError('INVALID_ARGUMENT', `attribute '${name}': unsupported value`);
  }
  return a;
}

export interface NodeOptions {
  readonly name?: string;
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

/** A NodeProto. Example: makeNode('MatMul', ['x', 'w'], ['y'], { name: 'mm' }). */
export function makeNode(opType: string, inputs: readonly string[], outputs: readonly string[], options: NodeOptions = {}): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    input: [...inputs],
    output: [...outputs],
    name: options.name ?? '',
    domain: options.domain ?? '',
    attribute: Object.entries(options.attributes ?? {}).map(([k, v]) => makeAttribute(k, v)),
  });
}

/** A tensor ValueInfoProto; a string dimension is symbolic (dim_param), null is unknown. */
export function makeValueInfo(name: string, dtype: OnnxDtype, shape?: readonly (number | string | null)[]): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType: onnxDtypeCode(dtype) });
  if (shape) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((d) =>
        create(TensorShapeProto_DimensionSchema, {
          value: d === null ? { case: undefined } : typeof d === 'string' ? { case: 'dimParam', value: d } : { case: 'dimValue', value: BigInt(d) },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

export interface GraphParts {
  readonly name?: string;
  readonly nodes: readonly NodeProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  readonly initializers?: readonly TensorProto[];
  readonly valueInfo?: readonly ValueInfoProto[];
}

export function makeGraph(parts: GraphParts): GraphProto {
  return create(GraphProtoSchema, {
    name: parts.name ?? 'graph',
    node: [...parts.nodes],
    input: [...parts.inputs],
    output: [...parts.outputs],
    initializer: [...(parts.initializers ?? [])],
    valueInfo: [...(parts.valueInfo ?? [])],
  });
}

/** A ModelProto around a graph; opsets as { domain: version }, '' the default domain. Example: makeModel(g, { '': 17 }). */
export function makeModel(graph: GraphProto, opsets: Readonly<Record<string, number>>, irVersion = 8): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: BigInt(irVersion),
    producerName: 'quantkit',
    graph,
    opsetImport: Object.entries(opsets).map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) })),
  });
}
