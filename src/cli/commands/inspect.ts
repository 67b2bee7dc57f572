import { inspectNpyFile } from '../../node/inspect-npy-file.js';
import { NpyFileReader } from '../../node/npy-file-reader.js';
import type { CliCommand } from '../cli-command.js';
import { formatInspection, inspectionJson } from '../format-inspection.js';
import { toJson } from '../format-table.js';

export const inspectCommand: CliCommand = {
  name: 'inspect',
  register(program, io) {
    program
      .command('inspect')
      .description('shape, dtype, range, a histogram, and the error int8, uint8 and int4 would cost (MSE, SQNR in dB)')
      .argument('<input>', 'input .npy')
      .option('--json', 'print one JSON object instead of the text report (sqnr_db is null when infinite or undefined)')
      .addHelpText('after', '\nThe error columns quantize per-tensor, asymmetric, with MinMaxObserver parameters.\n\nExample:\n  quantkit inspect w.npy --json')
      .action(async (input: string, raw: { json?: boolean }) => {
        const reader = NpyFileReader.open(input);
        try {
          const report = await inspectNpyFile(reader);
          io.stdout.write(raw.json ? `${toJson(inspectionJson(input, report))}\n` : formatInspection(input, report));
        } finally {
          reader.close();
        }
      });
  },
};
