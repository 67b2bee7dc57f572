import { QuantError } from '../../core/errors.js';
import type { GgufLayout } from '../../formats/gguf/encode-gguf-header.js';
import { AtomicFile } from '../fs/atomic-file.js';

/**
 * Writes a GGUF file laid out by encodeGgufHeader, tensor after tensor, each in as many pieces as
 * the caller likes: the header first, then every tensor's bytes in header order, each padded to
 * the alignment. The file appears at `path` only on commit, and only when every tensor got exactly
 * its bytes; abort (or any failure) leaves nothing behind.
 */
export class GgufFileWriter {
  private readonly file: AtomicFile;
  private index = 0;
  private written = 0;

  constructor(
    path: string,
    private readonly layout: GgufLayout,
  ) {
    this.file = new AtomicFile(path);
    try {
      this.file.write(layout.headerBytes);
    } catch (e) {
      this.file.abort();
      throw e;
    }
  }

  /** Appends bytes of the current tensor, moving on to the next once it is complete. */
  write(bytes: Uint8Array): void {
    const tensors = this.layout.header.tensors;
    let at = 0;
    while (at < bytes.length) {
      const t = tensors[this.index];
      if (t === undefined) throw this.fail(`more bytes than the ${tensors.length} tensors of the layout hold`);
      const n = Math.min(bytes.length - at, t.byteLength - this.written);
      this.file.write(bytes.subarray(at, at + n));
      at += n;
      this.written += n;
      this.finishEmpty();
    }
    this.finishEmpty();
  }

  /** Pads each complete tensor (and moves past tensors of 0 bytes). */
  private finishEmpty(): void {
    const tensors = this.layout.header.tensors;
    const a = this.layout.header.alignment;
    while (this.index < tensors.length && this.written === tensors[this.index]!.byteLength) {
      const pad = (a - (this.written % a)) % a;
      if (pad > 0) this.file.write(new Uint8Array(pad));
      this.index++;
      this.written = 0;
    }
  }

  private fail(message: string): QuantError {
    this.file.abort();
    return new QuantError('INVALID_ARGUMENT', `GGUF writer for '${this.file.path}': ${message}`);
  }

  commit(): void {
    this.finishEmpty();
    if (this.index !== this.layout.header.tensors.length) throw this.fail(`tensor '${this.layout.header.tensors[this.index]!.name}' is not complete`);
    if (BigInt(this.file.size) !== this.layout.fileSize) throw this.fail(`wrote ${this.file.size} bytes, the layout has ${this.layout.fileSize}`);
    this.file.commit();
  }

  abort(): void {
    this.file.abort();
  }
}
