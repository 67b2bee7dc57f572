import type { Command } from 'commander';
import type { CliIo } from './cli-io.js';

/**
 * One subcommand: it adds itself to the program (arguments, options, action). main.ts registers
 * the list in commands/index.ts; a new subcommand is one file and one entry there (name, usage,
 * summary, and the import that loads it).
 */
export interface CliCommand {
  readonly name: string;
  register(program: Command, io: CliIo): void;
}
