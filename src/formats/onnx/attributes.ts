import type { AttributeProto, GraphProto, NodeProto, TensorProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { ATTRIBUTE_TYPE } from './builders.js';

const utf8 = new TextDecoder();

/** The attribute named `name` of a node, or undefined. */
export function findAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

function expectType(node: NodeProto, a: AttributeProto, type: number, what: string): void {
  if (a.type !== type) {
    throw new QuantError('MALFORMED_FILE', `node '${node.name || node.opType}' attribute '${a.name}': expected ${what}, got attribute type ${a.type}`);
  }
}

/** An INT attribute as a number, or `fallback` when absent. */
export function intAttribute(node: NodeProto, name: string, fallback: number): number;
export function intAttribute(node: NodeProto, name: string): number | undefined;
export function intAttribute(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = findAttribute(node, name);
  if (!a) return fallback;
  expectType(node, a, ATTRIBUTE_TYPE.INT, 'an INT');
  return Number(a.i);
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = findAttribute(node, name);
  if (!a) return fallback;
  expectType(node, a, ATTRIBUTE_TYPE.FLOAT, 'a FLOAT');
  return a.f;
}

export function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  const a = findAttribute(node, name);
  if (!a) return undefined;
  expectType(node, a, ATTRIBUTE_TYPE.INTS, 'INTS');
  return a.ints.map(Number);
}

export function stringAttribute(node: NodeProto, name: string): string | undefined {
  const a = findAttribute(node, name);
  if (!a) return undefined;
  expectType(node, a, ATTRIBUTE_TYPE.STRING, 'a STRING');
  return utf8.decode(a.s);
}

export function tensorAttribute(node: NodeProto, name: string): TensorProto | undefined {
  const a = findAttribute(node, name);
  if (!a) return undefined;
  expectType(node, a, ATTRIBUTE_TYPE.TENSOR, 'a TENSOR');
  return a.t;
}

/** Every graph a node carries (If's then/else branches, Loop and Scan bodies, GRAPHS attributes). */
export function subgraphsOf(node: NodeProto): GraphProto[] {
  const out: GraphProto[] = [];
  for (const a of node.attribute) {
    if (a.g) out.push(a.g);
    out.push(...a.graphs);
  }
  return out;
}
