import { beforeAll, describe } from 'vitest';
import { NODE_BACKENDS, useBackend } from '../backends';
import { loadSchedulerGroups } from './scheduler-cases';
import { defineSchedulerSuite } from './scheduler-suite';

const groups = await loadSchedulerGroups();

for (const backend of NODE_BACKENDS) {
  describe(`diffusers scheduler cases on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    defineSchedulerSuite(groups);
  });
}
