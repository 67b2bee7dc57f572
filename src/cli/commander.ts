import { createRequire } from 'node:module';
import type * as CommanderModule from 'commander';

/*
 * commander, required rather than imported. It is CommonJS: `import 'commander'` goes through its
 * ESM wrapper (esm.mjs) and the ESM loader's CommonJS translator, which parses index.js once more
 * to find its exports; require() loads the same module (the same classes: instanceof holds across
 * both) in a few milliseconds less, on every command line.
 */
const commander = createRequire(import.meta.url)('commander') as typeof CommanderModule;

export const { Command, CommanderError, Help, Option } = commander;
export type Command = CommanderModule.Command;
export type CommanderError = CommanderModule.CommanderError;
export type Help = CommanderModule.Help;
export type Option = CommanderModule.Option;
