/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GaussianDiffusion, namedBetaSchedule } from '../../src/index';
import { gaussianOracle, moments } from '../gaussian-oracle';
import { countReadbacksAsync } from '../helpers';
import { useWebGL } from './setup-webgl';

describe('sampling loops on webgl', () => {
  beforeAll(() => useWebGL());

  it('DDIM samples the Gaussian data distribution with the exact denoiser, with no readback and no leak', async () => {
    const base = new GaussianDiffusion({
      betas: namedBetaSchedule('cosine', 1000),
      modelMeanType: 'epsilon',
      modelVarType: 'fixed_small',
      lossType: 'mse',
    });
    const oracle = gaussianOracle(base, 0.3, 0.2);
    const before = tf.memory().numTensors;
    let x0: tf.Tensor | undefined;
    const reads = await countReadbacksAsync(async () => {
      x0 = await base.respace('ddim200').ddimSampleLoop(oracle.model, [64, 8, 8, 1], { seed: 1, clipDenoised: false });
    });
    expect(reads).toBe(0);
    const m = moments(x0!);
    // As in Node: 4096 samples, 5 standard errors; DDIM at 200 steps is within 1% in std.
    expect(Math.abs(m.mean - 0.3)).toBeLessThan(0.016);
    expect(Math.abs(m.std - 0.2)).toBeLessThan(0.012);
    x0!.dispose();
    expect(tf.memory().numTensors).toBe(before);
    oracle.dispose();
  });
});
