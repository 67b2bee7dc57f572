/*
 * commander, the one place the CLI imports it from. Every command line loads it, so
 * scripts/build-cli.mjs bundles it into the CLI's entry (one module parsed with the entry, rather
 * than its ES wrapper and seven CommonJS files resolved and read through the module loader).
 */
export { Command, CommanderError, Help, Option } from 'commander';
