import { OutputSet } from '../node/fs/atomic-file.js';
import type { ChunkRunner } from '../node/workers/chunk-runner.js';
import type { NpyFileReader } from '../node/npy/npy-file-reader.js';
import type { Progress } from './progress.js';

/**
 * Runs one command's work with its resources: every output is written to a temp file and renamed
 * into place only if the work succeeds (otherwise removed), and the reader, the worker threads and
 * the progress bar are released whatever happens.
 */
export async function withOutputs<T>(
  resources: { reader: NpyFileReader; runner?: ChunkRunner; progress?: Progress },
  work: (outputs: OutputSet) => Promise<T>,
): Promise<T> {
  const outputs = new OutputSet();
  try {
    const result = await work(outputs);
    outputs.commit();
    return result;
  } catch (e) {
    outputs.abort();
    throw e;
  } finally {
    resources.progress?.stop();
    resources.reader.close();
    await resources.runner?.close();
  }
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
