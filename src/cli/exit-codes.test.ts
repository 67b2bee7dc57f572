import { describe, expect, it } from 'vitest';
import { CommanderError } from 'commander';
import { QuantError } from '../core/errors.js';
import { EXIT, exitCodeFor, formatError, UsageError } from './exit-codes.js';

describe('exit codes and error lines', () => {
  it('usage errors exit 2, library and unexpected errors 1, help 0', () => {
    expect(exitCodeFor(new UsageError('x'))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toBe(EXIT.OK);
    expect(exitCodeFor(new QuantError('NAN_INPUT', 'input contains NaN at index 3'))).toBe(EXIT.FAILURE);
    expect(exitCodeFor(new TypeError('boom'))).toBe(EXIT.FAILURE);
  });

  it('expected errors print their message on one line', () => {
    expect(formatError(new QuantError('MALFORMED_FILE', 'bad\n  header'), false)).toBe('quantkit: bad header');
    expect(formatError(new CommanderError(1, 'c', "error: unknown option '--x'"), false)).toBe("quantkit: unknown option '--x'");
  });

  it('unexpected errors hide the stack unless QUANTKIT_DEBUG=1', () => {
    const e = new TypeError('cannot read properties of undefined');
    const quiet = formatError(e, false);
    expect(quiet).toBe('quantkit: internal error: cannot read properties of undefined (run with QUANTKIT_DEBUG=1 for details)');
    expect(quiet).not.toContain('\n');
    expect(formatError(e, true)).toContain(e.stack!.split('\n')[1].trim());
  });
});
