import { beforeAll, describe } from 'vitest';
import { NODE_BACKENDS, useBackend } from './backends';
import { loadGroup } from './reference/load';
import { DIFFUSION_GROUPS, defineReferenceSuite, type ReferenceGroups } from './reference/suite';

const groups: ReferenceGroups = Object.fromEntries(
  await Promise.all(DIFFUSION_GROUPS.map(async (g) => [g, await loadGroup(g)] as const)),
);

for (const backend of NODE_BACKENDS) {
  describe(`improved-diffusion reference cases on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    defineReferenceSuite(groups);
  });
}
