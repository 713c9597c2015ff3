/// <reference types="vite/client" />
import { beforeAll, describe } from 'vitest';
import { loadGroup } from '../reference/load';
import { DIFFUSION_GROUPS, defineReferenceSuite, type ReferenceGroups } from '../reference/suite';
import { useWebGL } from './setup-webgl';

const groups: ReferenceGroups = Object.fromEntries(
  await Promise.all(DIFFUSION_GROUPS.map(async (g) => [g, await loadGroup(g)] as const)),
);

/**
 * WebGL computes in float32 like cpu and wasm, but its exp and log are the GPU's
 * (SwiftShader's here), accurate to a few ulp rather than correctly rounded. Every
 * case passes at factor 1 on SwiftShader; 2 leaves room for other GPUs.
 */
const WEBGL_TOLERANCE_FACTOR = 2;

describe('improved-diffusion reference cases on webgl', () => {
  beforeAll(() => useWebGL());
  defineReferenceSuite(groups, WEBGL_TOLERANCE_FACTOR);
});
