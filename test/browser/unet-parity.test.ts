/// <reference types="vite/client" />
import '@tensorflow/tfjs-layers';
import { beforeAll, describe } from 'vitest';
import { defineUNetParitySuite, type UNetCase } from '../nn/unet-parity-suite';
import { loadUNetCase } from '../reference/load';
import { useWebGL } from './setup-webgl';

const cases: UNetCase[] = await Promise.all(
  ['improved', 'guided_ssn'].map(async (tag) => ({ tag, ...(await loadUNetCase(tag)) })),
);

describe('U-Net parity with the reference on webgl', () => {
  beforeAll(() => useWebGL());
  defineUNetParitySuite(cases);
});
