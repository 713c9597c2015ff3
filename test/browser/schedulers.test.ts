/// <reference types="vite/client" />
import { beforeAll, describe } from 'vitest';
import { loadSchedulerGroups } from '../sampling/scheduler-cases';
import { defineSchedulerSuite } from '../sampling/scheduler-suite';
import { useWebGL } from './setup-webgl';

const groups = await loadSchedulerGroups();

/**
 * WebGL computes in float32 like cpu and wasm, but its division, exp and log are the
 * GPU's (SwiftShader's here), a few ulp from correctly rounded; every step compounds
 * them. The factor scales the per-case tolerance of the Node suite (DDIM passes at 1 on
 * SwiftShader; 2 leaves room for other GPUs).
 */
const WEBGL_TOLERANCE_FACTOR = 2;

describe('diffusers scheduler cases on webgl', () => {
  beforeAll(() => useWebGL());
  defineSchedulerSuite(groups, WEBGL_TOLERANCE_FACTOR);
});
