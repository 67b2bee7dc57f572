import { GGML_TYPES } from '../../core/ggml/index.js';
import type { GgmlType, GgmlTypeInfo } from '../../core/ggml/index.js';

/** The ggml type named `name`, any case ('q4_k' is Q4_K), or undefined: for names typed by a user. */
export function ggmlTypeNamed(name: string): GgmlTypeInfo | undefined {
  const upper = name.toUpperCase();
  return Object.hasOwn(GGML_TYPES, upper) ? GGML_TYPES[upper as GgmlType] : undefined;
}
