import type { CliCommand } from '../cli-command.js';
import { toJson } from '../format-table.js';
import { isSafetensorsPath } from '../safetensors-run.js';

export const inspectCommand: CliCommand = {
  name: 'inspect',
  register(program, io) {
    program
      .command('inspect')
      .description('shape, dtype, range, a histogram, and the error int8, uint8 and int4 would cost (MSE, SQNR in dB)')
      .argument('<input>', 'input .npy or .safetensors')
      .option('--json', 'print one JSON object instead of the text report (sqnr_db is null when infinite or undefined)')
      .addHelpText(
        'after',
        `
The error columns quantize per-tensor, asymmetric, with MinMaxObserver parameters.
A .safetensors input gives one row per tensor: dtype, shape, range and, for float tensors, the SQNR
of symmetric int8 per output channel (axis 0) and of int4 in blocks of 32 along the last axis.

Examples:
  quantkit inspect w.npy --json
  quantkit inspect model.safetensors`,
      )
      .action(async (input: string, raw: { json?: boolean }) => {
        // Each format's stack loads when a file of that format is inspected, not for --help.
        if (isSafetensorsPath(input)) {
          const [{ SafetensorsFileReader }, { inspectSafetensorsFile }, { formatSafetensorsInspection, safetensorsInspectionJson }] = await Promise.all([
            import('../../node/safetensors/safetensors-file.js'),
            import('../../node/safetensors/inspect-safetensors-file.js'),
            import('../format-safetensors-inspection.js'),
          ]);
          const st = SafetensorsFileReader.open(input);
          try {
            const tensors = inspectSafetensorsFile(st);
            io.stdout.write(raw.json ? `${toJson(safetensorsInspectionJson(input, tensors))}\n` : formatSafetensorsInspection(input, tensors));
          } finally {
            st.close();
          }
          return;
        }
        const [{ NpyFileReader }, { inspectNpyFile }, { formatInspection, inspectionJson }] = await Promise.all([
          import('../../node/npy/npy-file-reader.js'),
          import('../../node/npy/inspect-npy-file.js'),
          import('../format-inspection.js'),
        ]);
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
