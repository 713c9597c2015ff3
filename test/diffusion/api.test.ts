import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GaussianDiffusion, namedBetaSchedule, type GaussianDiffusionOptions } from '../../src/index';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';

const options: GaussianDiffusionOptions = {
  betas: namedBetaSchedule('cosine', 1000),
  modelMeanType: 'epsilon',
  modelVarType: 'learned_range',
  lossType: 'rescaled_mse',
  rescaleTimesteps: true,
};

describe('GaussianDiffusion conveniences', () => {
  let x: tf.Tensor;
  let noise: tf.Tensor;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.randomUniform([3, 2, 2, 1], -1, 1, 'float32', 1);
    noise = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 2);
  });
  afterAll(() => tf.dispose([x, noise]));

  it('a single integer t means that step for every batch element', () => {
    const d = new GaussianDiffusion(options);
    const [a, b] = [d.qSample(x, 417, noise), d.qSample(x, [417, 417, 417], noise)];
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
    expectDifflibError(() => d.qSample(x, 1000), 'qSample', 't', 'OUT_OF_RANGE');
    expectDifflibError(() => d.qSample(x, 2.5), 'qSample', 't', 'INVALID_ARGUMENT');
  });

  it('a seed reproduces the noise, seed 0 included (tfjs itself ignores a seed of 0)', () => {
    const d = new GaussianDiffusion(options);
    const draw = (seed: number) => {
      const out = d.qSample(x, [1, 500, 999], undefined, { seed });
      const values = Array.from(out.dataSync());
      out.dispose();
      return values;
    };
    expect(draw(0)).toEqual(draw(0));
    expect(draw(0)).not.toEqual(draw(1));
  });

  it('respace() is the process that useTimesteps builds, and composes', () => {
    const d = new GaussianDiffusion(options);
    const fast = d.respace('ddim50');
    const direct = new GaussianDiffusion({ ...options, useTimesteps: 'ddim50' });
    expect(fast.timestepMap).toEqual(direct.timestepMap);
    expect(Array.from(fast.posteriorLogVarianceClipped)).toEqual(Array.from(direct.posteriorLogVarianceClipped));
    expect([fast.modelMeanType, fast.modelVarType, fast.lossType, fast.rescaleTimesteps]).toEqual([
      'epsilon',
      'learned_range',
      'rescaled_mse',
      true,
    ]);
    // Respacing a respaced process keeps mapping to original timesteps (and rescaling by the original T).
    const faster = fast.respace('ddim10');
    expect(faster.timestepMap).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(faster.originalNumTimesteps).toBe(1000);
    expectDifflibError(() => d.respace('ddim7000'), 'GaussianDiffusion.respace', 'respacing', 'UNSATISFIABLE');
  });
});
