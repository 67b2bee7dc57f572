import fc from 'fast-check';
import { expect, it } from 'vitest';

it('property tests run on the configured seed unless FC_SEED names another', () => {
  expect(fc.readConfigureGlobal().seed).toBe(Number(process.env.FC_SEED ?? 20261207));
});
