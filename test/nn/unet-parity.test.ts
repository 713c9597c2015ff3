import { beforeAll, describe } from 'vitest';
import { NODE_BACKENDS, useBackend } from '../backends';
import { loadUNetCase } from '../reference/load';
import { defineUNetParitySuite, type UNetCase } from './unet-parity-suite';

const cases: UNetCase[] = await Promise.all(
  ['improved', 'guided_ssn'].map(async (tag) => ({ tag, ...(await loadUNetCase(tag)) })),
);

for (const backend of NODE_BACKENDS) {
  describe(`U-Net parity with the reference on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    defineUNetParitySuite(cases);
  });
}
