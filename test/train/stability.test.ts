import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer } from '../../src/index';
import { useBackend } from '../backends';
import { makeDiffusion, makeUNet } from './fixtures';

/**
 * Improved DDPM's hardest setting: cosine T = 4000 with learned-range variances and the
 * hybrid loss, where β_t reaches its 0.999 clip at the end and β̃_1 is ~1e-9 at the start.
 */
describe('hybrid loss at cosine T = 4000 stays finite', () => {
  beforeAll(() => useBackend('wasm'));

  it('at the extreme timesteps, in the loss and its gradients', () => {
    const diffusion = makeDiffusion(4000);
    const unet = makeUNet();
    const x0 = tf.tidy(() => tf.clipByValue(tf.randomNormal([4, 8, 8, 1], 0, 0.6, 'float32', 1), -1, 1));
    const variables = unet.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => tf.mean(diffusion.trainingLosses(unet.forward, x0, [0, 1, 3998, 3999], { seed: 2 }).loss),
      variables,
    );
    const finite = (t: tf.Tensor) => tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
    expect(finite(value)).toBe(true);
    expect(Object.values(grads).every(finite)).toBe(true);
    tf.dispose([value, grads, x0]);
    unet.dispose();
  });

  it('over a training run, checked at every step', async () => {
    const diffusion = makeDiffusion(4000);
    const unet = makeUNet();
    // A high learning rate stresses the update; timesteps are drawn over all 4000 steps.
    const trainer = new Trainer({ diffusion, model: unet, batchSize: 8, lr: 3e-3, gradClipNorm: 1, seed: 5 });
    const x0 = tf.tidy(() => tf.clipByValue(tf.randomNormal([8, 8, 8, 1], 0, 0.6, 'float32', 3), -1, 1));
    for (let step = 0; step < 30; step++) {
      // Trainer.step throws a NON_FINITE DifflibError on a non-finite loss or gradient norm.
      const log = await trainer.step(x0);
      expect(Number.isFinite(log.loss.mean) && Number.isFinite(log.gradNorm)).toBe(true);
    }
    x0.dispose();
    trainer.dispose();
    unet.dispose();
  }, 120_000);
});
