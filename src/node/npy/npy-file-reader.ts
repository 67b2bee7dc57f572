import { closeSync, read, readSync } from 'node:fs';
import { QuantError } from '../../core/errors.js';
import type { NpyArray, NpyData, NpyHeader } from '../../formats/npy.js';
import { decodeNpy, NPY_DTYPES, npyHeaderBytesNeeded, parseNpyHeader, toFloat32 } from '../../formats/npy.js';
import { PLATFORM_LITTLE_ENDIAN } from '../../formats/npy-dtype.js';
import { describeFsError } from '../fs/fs-error.js';
import { openAndParse, readAt } from '../fs/file-read.js';

/** Enough for the fixed part of any header version (magic, version, 4-byte length). */
const PREFIX_BYTES = 12;

/**
 * A .npy file opened for reading in chunks: the header is parsed up front, then
 * `readFloat32(start, out)` converts any run of elements (C order) to float32 into a buffer the
 * caller reuses, so memory stays at one chunk whatever the file's size. Big-endian, float16,
 * float64, integer and bool data are converted chunk by chunk. Fortran-order files with more than
 * one non-trivial axis are decoded whole and transposed once (their C order is not contiguous on
 * disk).
 */
export class NpyFileReader {
  readonly path: string;
  readonly header: NpyHeader;
  /** Elements in the array: product(shape). */
  readonly size: number;
  private fd: number | undefined;
  private raw: Uint8Array | undefined;
  private whole: Float32Array | undefined;

  private constructor(path: string, fd: number, header: NpyHeader) {
    this.path = path;
    this.fd = fd;
    this.header = header;
    this.size = header.shape.reduce((a, d) => a * d, 1);
  }

  /** Opens and checks a .npy file: MALFORMED_FILE if it is not one or is truncated, IO_ERROR if unreadable. */
  static open(path: string): NpyFileReader {
    return openAndParse(path, (fd, fileBytes) => {
      const prefix = readAt(fd, path, 0, Math.min(PREFIX_BYTES, fileBytes));
      if (prefix.length < 10) throw new QuantError('MALFORMED_FILE', `'${path}' is not a .npy file: it has only ${fileBytes} bytes`);
      const headerBytes = npyHeaderBytesNeeded(prefix);
      const header = parseNpyHeader(readAt(fd, path, 0, Math.min(headerBytes, fileBytes)));
      const available = fileBytes - header.dataOffset;
      if (available !== header.dataBytes) {
        throw new QuantError(
          'MALFORMED_FILE',
          `${available < header.dataBytes ? 'truncated' : 'bad'} .npy '${path}': header says ${header.dataBytes} bytes of data (shape [${header.shape.join(', ')}] of ${header.dtype}), file has ${available}`,
        );
      }
      if (NPY_DTYPES[header.dtype].components !== 1) {
        throw new QuantError('UNSUPPORTED', `'${path}' holds ${header.dtype} values: expected real numbers (float, int or bool)`);
      }
      return new NpyFileReader(path, fd, header);
    });
  }


  /** True when elements are read straight off the disk into the caller's buffer (no conversion). */
  get isRawFloat32(): boolean {
    const h = this.header;
    return h.dtype === 'float32' && h.littleEndian === PLATFORM_LITTLE_ENDIAN && !this.needsWholeRead;
  }

  private get needsWholeRead(): boolean {
    return this.header.fortranOrder && this.header.shape.filter((d) => d > 1).length > 1;
  }

  /** Elements [start, start + out.length) as float32 into `out` (NaN stays NaN; the caller validates). */
  readFloat32(start: number, out: Float32Array): Float32Array {
    const n = out.length;
    if (start < 0 || start + n > this.size) {
      throw new QuantError('INVALID_ARGUMENT', `elements [${start}, ${start + n}) are outside the array of ${this.size}`);
    }
    if (this.needsWholeRead) {
      this.whole ??= this.decodeWhole();
      out.set(this.whole.subarray(start, start + n));
      return out;
    }
    const h = this.header;
    const pos = h.dataOffset + start * h.itemSize;
    if (this.isRawFloat32) {
      this.readInto(new Uint8Array(out.buffer, out.byteOffset, n * 4), pos);
      return out;
    }
    const bytes = n * h.itemSize;
    if (!this.raw || this.raw.length < bytes) this.raw = new Uint8Array(bytes);
    const raw = this.raw.subarray(0, bytes);
    this.readInto(raw, pos);
    if (h.itemSize > 1 && h.littleEndian !== PLATFORM_LITTLE_ENDIAN) swapWords(raw, h.itemSize);
    if (h.dtype === 'bool') normalizeBool(raw);
    const info = NPY_DTYPES[h.dtype];
    const data = new info.ctor(raw.buffer as ArrayBuffer, raw.byteOffset, n) as NpyData;
    const chunk: NpyArray = { dtype: h.dtype, shape: [n], data };
    return toFloat32(chunk, out);
  }

  /**
   * readFloat32 off this thread: for files read without conversion (isRawFloat32) the bytes go
   * from the file straight into `out` on libuv's thread pool, so the caller can compute meanwhile;
   * `out` must not be touched until the promise settles. Other files are read and converted now.
   */
  readFloat32Async(start: number, out: Float32Array): Promise<Float32Array> {
    if (!this.isRawFloat32) {
      try {
        return Promise.resolve(this.readFloat32(start, out));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const n = out.length;
    if (start < 0 || start + n > this.size) {
      return Promise.reject(new QuantError('INVALID_ARGUMENT', `elements [${start}, ${start + n}) are outside the array of ${this.size}`));
    }
    return this.readIntoAsync(new Uint8Array(out.buffer, out.byteOffset, n * 4), this.header.dataOffset + start * 4).then(() => out);
  }

  /** Raw elements [start, start + n) in native byte order, as the file's own dtype (codes for dequantize). */
  readNative(start: number, out: NpyData): NpyData {
    const h = this.header;
    if (this.needsWholeRead) {
      const arr = this.decodeArray();
      (out as unknown as { set(a: ArrayLike<unknown>): void }).set((arr.data as Uint8Array).subarray(start, start + out.length));
      return out;
    }
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.length * h.itemSize);
    this.readInto(bytes, h.dataOffset + start * h.itemSize);
    if (h.itemSize > 1 && h.littleEndian !== PLATFORM_LITTLE_ENDIAN) swapWords(bytes, h.itemSize);
    if (h.dtype === 'bool') normalizeBool(bytes);
    return out;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.raw = undefined;
    this.whole = undefined;
  }

  private readInto(dst: Uint8Array, position: number): void {
    if (this.fd === undefined) throw new QuantError('IO_ERROR', `'${this.path}' is closed`);
    let off = 0;
    while (off < dst.length) {
      let got: number;
      try {
        got = readSync(this.fd, dst, off, dst.length - off, position + off);
      } catch (e) {
        throw new QuantError('IO_ERROR', `cannot read '${this.path}': ${describeFsError(e)}`, { cause: e });
      }
      if (got === 0) throw new QuantError('MALFORMED_FILE', `truncated .npy '${this.path}': it ended while reading`);
      off += got;
    }
  }

  private readIntoAsync(dst: Uint8Array, position: number): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) return Promise.reject(new QuantError('IO_ERROR', `'${this.path}' is closed`));
    return new Promise((resolve, reject) => {
      const step = (off: number): void => {
        if (off >= dst.length) return resolve();
        read(fd, dst, off, dst.length - off, position + off, (e, got) => {
          if (e) reject(new QuantError('IO_ERROR', `cannot read '${this.path}': ${describeFsError(e)}`, { cause: e }));
          else if (got === 0) reject(new QuantError('MALFORMED_FILE', `truncated .npy '${this.path}': it ended while reading`));
          else step(off + got);
        });
      };
      step(0);
    });
  }

  private decodedArray: NpyArray | undefined;

  private decodeArray(): NpyArray {
    if (this.decodedArray) return this.decodedArray;
    const all = new Uint8Array(this.header.dataOffset + this.header.dataBytes);
    this.readInto(all, 0);
    this.decodedArray = decodeNpy(all);
    return this.decodedArray;
  }

  private decodeWhole(): Float32Array {
    const arr = this.decodeArray();
    this.decodedArray = undefined;
    return toFloat32(arr, new Float32Array(this.size));
  }
}

/** numpy reads any non-zero bool byte as True; decodeNpy promises 0/1 and so do the chunks read here. */
function normalizeBool(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 1) bytes[i] = 1;
}

function swapWords(bytes: Uint8Array, width: number): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}
