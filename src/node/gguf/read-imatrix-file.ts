import { readFileSync } from 'node:fs';
import { QuantError } from '../../core/errors.js';
import { GGUF_MAGIC } from '../../formats/gguf/gguf-header.js';
import type { ImatrixData } from '../../formats/gguf/imatrix.js';
import { decodeLegacyImatrix, imatrixFromGguf } from '../../formats/gguf/imatrix.js';
import { describeFsError } from '../fs/fs-error.js';
import { openGgufFile } from './gguf-file.js';

/**
 * A llama.cpp importance matrix file, in either form: GGUF (what llama-imatrix writes now) or the
 * legacy .dat. The form is told by the magic, so a .dat that happened to begin with 'GGUF' would
 * be read as GGUF, as llama.cpp does (it tries GGUF first).
 */
export function readImatrixFile(path: string): ImatrixData {
  let head: Uint8Array;
  try {
    head = readFileSync(path);
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read '${path}': ${describeFsError(e)}`, { cause: e });
  }
  const named = (e: unknown) => (e instanceof QuantError && e.code === 'MALFORMED_FILE' && !e.message.includes(path) ? new QuantError(e.code, `'${path}': ${e.message}`, { cause: e }) : e);
  if (head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === GGUF_MAGIC) {
    const file = openGgufFile(path);
    try {
      return imatrixFromGguf(file.header, (t) => file.readTensor(t));
    } catch (e) {
      throw named(e);
    } finally {
      file.close();
    }
  }
  try {
    return decodeLegacyImatrix(head);
  } catch (e) {
    throw named(e);
  }
}
