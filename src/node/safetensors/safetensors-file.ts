import { closeSync } from 'node:fs';
import { QuantError } from '../../core/errors.js';
import type { SafetensorsHeader, SafetensorsTensorInfo } from '../../formats/safetensors.js';
import { floatTensorToFloat32, parseSafetensorsHeader, safetensorsHeaderSize } from '../../formats/safetensors.js';
import { openAndParse, readFully } from '../fs/file-read.js';

/**
 * A .safetensors file opened for reading tensor by tensor: the header is read and checked up
 * front (formats/safetensors.ts), then each tensor's bytes are read where they lie, so memory
 * holds one tensor at a time whatever the model's size.
 */
export class SafetensorsFileReader {
  readonly path: string;
  readonly header: SafetensorsHeader;
  readonly fileSize: number;
  private fd: number | undefined;
  private readonly byName: Map<string, SafetensorsTensorInfo>;

  private constructor(path: string, fd: number, fileSize: number, header: SafetensorsHeader) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    this.header = header;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /** Opens and checks a .safetensors file: MALFORMED_FILE if it is not one, IO_ERROR if unreadable. */
  static open(path: string): SafetensorsFileReader {
    return openAndParse(path, (fd, fileSize) => {
      if (fileSize < 8) throw new QuantError('MALFORMED_FILE', `not a safetensors file: it has only ${fileSize} bytes (at least the 8-byte header size is needed)`);
      const n = safetensorsHeaderSize(readExactly(fd, path, 0, 8), fileSize);
      const header = parseSafetensorsHeader(readExactly(fd, path, 8, n), fileSize);
      return new SafetensorsFileReader(path, fd, fileSize, header);
    });
  }


  /** The tensor's entry; INVALID_ARGUMENT naming the file when there is none of that name. */
  tensor(name: string): SafetensorsTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new QuantError('INVALID_ARGUMENT', `'${this.path}' has no tensor '${name}'`);
    return t;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The tensor's bytes as stored (little-endian), in a fresh array. */
  readBytes(t: SafetensorsTensorInfo): Uint8Array {
    return readExactly(this.openFd(), this.path, this.header.dataStart + t.begin, t.end - t.begin);
  }

  /** A float tensor (F32, F16, BF16, F64) as float32. */
  readFloat32(t: SafetensorsTensorInfo): Float32Array {
    return floatTensorToFloat32(t.dtype, this.readBytes(t));
  }

  /** `out.length` bytes of the tensor from byte `offset` within it, read into `out` (a buffer the caller reuses). */
  readInto(t: SafetensorsTensorInfo, out: Uint8Array, offset = 0): void {
    if (offset < 0 || offset + out.length > t.end - t.begin) {
      throw new QuantError('INVALID_ARGUMENT', `bytes [${offset}, ${offset + out.length}) are outside tensor '${t.name}' (${t.end - t.begin} bytes)`);
    }
    readFully(this.openFd(), this.path, this.header.dataStart + t.begin + offset, out);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private openFd(): number {
    if (this.fd === undefined) throw new QuantError('IO_ERROR', `'${this.path}' is already closed`);
    return this.fd;
  }
}

function readExactly(fd: number, path: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  readFully(fd, path, position, out);
  return out;
}
