import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULER_CLASSES } from '../../src/sampling/schedulers/from-config';
import { NODE_BACKENDS, useBackend } from '../backends';
import { loadSchedulerGroups } from './scheduler-cases';
import { defineSchedulerSuite } from './scheduler-suite';

const groups = await loadSchedulerGroups();

it('every scheduler of the diffusers reference cases is implemented (the suite runs every case)', () => {
  const classes = Object.values(groups).map((cases) => cases[0]!.scheduler);
  expect(classes).toHaveLength(13);
  expect(classes.filter((c) => !Object.hasOwn(SCHEDULER_CLASSES, c))).toEqual([]);
});

for (const backend of NODE_BACKENDS) {
  describe(`diffusers scheduler cases on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    defineSchedulerSuite(groups);
  });
}
