import type { Stats } from 'node:fs';
import { closeSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { QuantError } from '../../core/errors.js';
import { describeFsError } from './fs-error.js';

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Refuses a path that exists (following symlinks) and is not a regular file. The rename that puts
 * an output in place replaces whatever the name points at: run as root, `-o /dev/null` would turn
 * the device into a regular file for the whole system; a FIFO's reader would never get the bytes.
 */
export function checkOutputTarget(path: string): void {
  let st: Stats | undefined;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    // ENOTDIR, ELOOP, EACCES: the write that follows reports it in its own words.
    if ((e as NodeJS.ErrnoException).code !== undefined) return;
    throw e;
  }
  if (st === undefined || st.isFile()) return;
  throw new QuantError('IO_ERROR', `refusing to write '${path}': it is ${kindOf(st)}, not a regular file (the output would replace it)`);
}

/** Temp files not yet committed or aborted, so a signal handler can remove them (see removePendingTempFiles). */
const PENDING = new Set<string>();

/**
 * A file that appears at `path` only when complete: bytes go to a temp file in the same directory
 * (so the final rename stays on one filesystem and is atomic), `commit` renames it into place,
 * `abort` removes it. A failed run therefore never leaves a partial output behind.
 */
export class AtomicFile {
  readonly path: string;
  readonly tempPath: string;
  private fd: number | undefined;
  private position = 0;

  constructor(path: string) {
    checkOutputTarget(path);
    this.path = path;
    // Math.random, not node:crypto: loading crypto cost the CLI ~15 ms of start-up for a name that
    // needs no secrecy (the pid makes it unique across processes, 'wx' refuses any clash).
    const tag = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
    this.tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${tag}.tmp`);
    try {
      this.fd = openSync(this.tempPath, 'wx');
    } catch (e) {
      throw new QuantError('IO_ERROR', `cannot write '${path}': ${describeFsError(e)}`, { cause: e });
    }
    PENDING.add(this.tempPath);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.position;
  }

  write(bytes: Uint8Array): void {
    if (this.fd === undefined) throw new QuantError('IO_ERROR', `'${this.path}' is already closed`);
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    } catch (e) {
      throw new QuantError('IO_ERROR', `cannot write '${this.path}': ${describeFsError(e)}`, { cause: e });
    }
    this.position += bytes.length;
  }

  commit(): void {
    this.close();
    try {
      // Again at the last moment: the name may have been replaced while the output was written.
      checkOutputTarget(this.path);
      renameSync(this.tempPath, this.path);
    } catch (e) {
      this.abort();
      if (e instanceof QuantError) throw e;
      throw new QuantError('IO_ERROR', `cannot write '${this.path}': ${describeFsError(e)}`, { cause: e });
    }
    PENDING.delete(this.tempPath);
  }

  /** Removes the temp file; safe to call more than once and after a failed commit. */
  abort(): void {
    this.close();
    if (!PENDING.has(this.tempPath)) return;
    PENDING.delete(this.tempPath);
    try {
      unlinkSync(this.tempPath);
    } catch {
      // Already gone: nothing left behind either way.
    }
  }

  private close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

/**
 * Several outputs that succeed or fail together (codes and their parameters file): nothing is
 * renamed into place until every one of them is complete.
 */
export class OutputSet {
  private readonly files: AtomicFile[] = [];

  create(path: string): AtomicFile {
    const f = new AtomicFile(path);
    this.files.push(f);
    return f;
  }

  commit(): void {
    const done: string[] = [];
    try {
      for (const f of this.files) {
        f.commit();
        done.push(f.path);
      }
    } catch (e) {
      // A half-committed set would pair new codes with stale parameters: undo the renames too.
      for (const p of done) {
        try {
          unlinkSync(p);
        } catch {
          // Best effort: the error below is what the user needs to see.
        }
      }
      this.abort();
      throw e;
    }
  }

  /** Removes every temp file not yet renamed into place. */
  abort(): void {
    for (const f of this.files) f.abort();
  }
}

/** Synchronously removes temp files still pending (for SIGINT/SIGTERM handlers, which cannot await). */
export function removePendingTempFiles(): void {
  for (const p of PENDING) {
    try {
      unlinkSync(p);
    } catch {
      // Best effort on the way out.
    }
  }
  PENDING.clear();
}
