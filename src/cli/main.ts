#!/usr/bin/env node
// The quantkit executable: runs the CLI on this process's arguments and exits with its status.
import { removePendingTempFiles } from '../node/fs/atomic-file.js';
import { installUninitializedOutputs } from '../node/uninitialized-outputs.js';
import { processIo } from './cli-io.js';
import { EXIT } from './exit-codes.js';
import { runCli } from './run-cli.js';

// Large results of the library (the service's quantize and dequantize answers) skip zeroing.
installUninitializedOutputs();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // An interrupted run must not leave a half-written temp file next to the output.
  process.on(signal, () => {
    removePendingTempFiles();
    process.exit(EXIT.INTERRUPTED);
  });
}

// `quantkit inspect x.npy | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(EXIT.OK);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2), processIo());
