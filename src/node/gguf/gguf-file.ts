import { closeSync } from 'node:fs';
import { QuantError } from '../../core/errors.js';
import type { GgufHeader, GgufTensorInfo } from '../../formats/gguf/gguf-header.js';
import { tryDecodeGgufHeader } from '../../formats/gguf/gguf-header.js';
import { openAndParse, readAt, readFully } from '../fs/file-read.js';

/** The first read; a header that needs more (a large vocabulary) is read again in larger pieces. */
const FIRST_READ = 1 << 20;

/**
 * An open GGUF file: its header, and its tensors read one at a time, so a model of any size
 * needs memory for the tensor (or the rows) being worked on only.
 */
export interface GgufFile {
  readonly path: string;
  readonly size: number;
  readonly header: GgufHeader;
  /** `length` bytes of a tensor from byte `start` of it (default: the whole tensor). */
  readTensor(t: GgufTensorInfo, start?: number, length?: number): Uint8Array;
  close(): void;
}

/**
 * Opens and parses a GGUF file. IO_ERROR when it cannot be read; MALFORMED_FILE or UNSUPPORTED
 * (naming the file, one line) when it is not a GGUF file quantkit reads.
 */
export function openGgufFile(path: string): GgufFile {
  return openAndParse(path, (fd, size) => {
    let n = Math.min(size, FIRST_READ);
    let header: GgufHeader | undefined;
    while (header === undefined) {
      const r = tryDecodeGgufHeader(readAt(fd, path, 0, n), size);
      if ('needBytes' in r) n = Math.min(size, Math.max(r.needBytes, n * 2));
      else header = r;
    }
    const h = header;
    let open = true;
    return {
      path,
      size,
      header: h,
      readTensor(t, start = 0, length = t.byteLength - start) {
        if (!open) throw new QuantError('IO_ERROR', `'${path}' is closed`);
        if (start < 0 || length < 0 || start + length > t.byteLength) throw new QuantError('INVALID_ARGUMENT', `bytes ${start}..${start + length} are not inside tensor '${t.name}' (${t.byteLength} bytes)`);
        const out = new Uint8Array(length);
        readFully(fd, path, Number(h.dataOffset + t.offset) + start, out);
        return out;
      },
      close() {
        if (open) closeSync(fd);
        open = false;
      },
    };
  });
}
