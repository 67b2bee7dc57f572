import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { QuantError } from '../../core/errors.js';
import { describeFsError } from './fs-error.js';

/**
 * Opens `path` for reading and hands the descriptor and size to `parse` (which reads and checks
 * the file's header and keeps the descriptor in what it returns). IO_ERROR when the file cannot be
 * opened; if `parse` throws, the descriptor is closed and a format error (MALFORMED_FILE,
 * UNSUPPORTED) is made to name the file, so the CLI's one line says which file was wrong.
 */
export function openAndParse<T>(path: string, parse: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read '${path}': ${describeFsError(e)}`, { cause: e });
  }
  try {
    return parse(fd, fstatSync(fd).size);
  } catch (e) {
    closeSync(fd);
    if (e instanceof QuantError && (e.code === 'MALFORMED_FILE' || e.code === 'UNSUPPORTED') && !e.message.includes(path)) {
      throw new QuantError(e.code, `'${path}': ${e.message}`, { cause: e, details: e.details });
    }
    throw e;
  }
}

/** Up to n bytes from `position`, fewer where the file ends (the caller checks what it needs). */
export function readAt(fd: number, path: string, position: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  return out.subarray(0, readInto(fd, path, position, out));
}

/** Fills `out` from `position`; MALFORMED_FILE naming the file if it ends first. */
export function readFully(fd: number, path: string, position: number, out: Uint8Array): void {
  const got = readInto(fd, path, position, out);
  if (got < out.length) throw new QuantError('MALFORMED_FILE', `'${path}' ended after ${position + got} bytes, expected ${position + out.length}`);
}

function readInto(fd: number, path: string, position: number, out: Uint8Array): number {
  let off = 0;
  while (off < out.length) {
    let got: number;
    try {
      got = readSync(fd, out, off, out.length - off, position + off);
    } catch (e) {
      throw new QuantError('IO_ERROR', `cannot read '${path}': ${describeFsError(e)}`, { cause: e });
    }
    if (got === 0) break;
    off += got;
  }
  return off;
}
