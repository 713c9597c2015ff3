import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; tfjs-layers registers them all.
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { GaussianDiffusion, namedBetaSchedule, type LossType } from '../../src/index';
import { NODE_BACKENDS, useBackend } from '../backends';

const C = 3;
/** t = 0 exercises the decoder NLL, the others the KL terms. */
const T_BATCH = [0, 1, 37, 99];

function setup(lossType: LossType) {
  const diffusion = new GaussianDiffusion({
    betas: namedBetaSchedule('cosine', 100),
    modelMeanType: 'epsilon',
    modelVarType: 'learned_range',
    lossType,
  });
  const xStart = tf.clipByValue(tf.randomNormal([4, 4, 4, C], 0, 0.5, 'float32', 1), -1, 1);
  const noise = tf.randomNormal([4, 4, 4, C], 0, 1, 'float32', 2);
  // The "network" is its output: a variable of the model's output shape.
  const output = tf.variable(tf.randomUniform([4, 4, 4, 2 * C], -0.9, 0.9, 'float32', 3));
  const model = () => tf.mul(output, 1);
  return { diffusion, xStart, noise, output, model };
}

/** Largest |gradient| in the mean channels and in the variance channels. */
function gradientByPart(grad: tf.Tensor): { mean: number; variance: number } {
  return tf.tidy(() => {
    const [meanPart, varPart] = tf.split(tf.abs(grad), 2, -1);
    return { mean: tf.max(meanPart!).dataSync()[0]!, variance: tf.max(varPart!).dataSync()[0]! };
  });
}

for (const backend of NODE_BACKENDS) {
  describe(`hybrid loss gradients on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    for (const lossType of ['mse', 'rescaled_mse'] as const) {
      it(`${lossType}: the vb term sends no gradient into the mean channels and some into the variance channels`, () => {
        const { diffusion, xStart, noise, output, model } = setup(lossType);
        const { grads } = tf.variableGrads(
          () => tf.sum(diffusion.trainingLosses(model, xStart, T_BATCH, { noise }).vb!),
          [output],
        );
        const g = gradientByPart(grads[output.name]!);
        expect(g.mean).toBe(0);
        expect(g.variance).toBeGreaterThan(1e-4);
        tf.dispose([xStart, noise, output, grads]);
      });

      it(`${lossType}: the mse term trains only the mean channels`, () => {
        const { diffusion, xStart, noise, output, model } = setup(lossType);
        const { grads } = tf.variableGrads(
          () => tf.sum(diffusion.trainingLosses(model, xStart, T_BATCH, { noise }).mse!),
          [output],
        );
        const g = gradientByPart(grads[output.name]!);
        expect(g.mean).toBeGreaterThan(1e-4);
        expect(g.variance).toBe(0);
        tf.dispose([xStart, noise, output, grads]);
      });
    }

    it('rescaled_mse: the gradient of the vb term is T/1000 times that of mse', () => {
      const grads = (['mse', 'rescaled_mse'] as const).map((lossType) => {
        const { diffusion, xStart, noise, output, model } = setup(lossType);
        const { grads: g } = tf.variableGrads(
          () => tf.sum(diffusion.trainingLosses(model, xStart, T_BATCH, { noise }).vb!),
          [output],
        );
        const values = g[output.name]!.dataSync().slice();
        tf.dispose([xStart, noise, output, g]);
        return values;
      });
      const ratio = 100 / 1000;
      grads[0]!.forEach((g, i) => expect(grads[1]![i]).toBeCloseTo(g * ratio, 6));
    });

    it('kl: the bound alone trains both the mean and the variance (no stop-gradient)', () => {
      const { diffusion, xStart, noise, output, model } = setup('kl');
      const { grads } = tf.variableGrads(() => tf.sum(diffusion.trainingLosses(model, xStart, T_BATCH, { noise }).loss), [output]);
      const g = gradientByPart(grads[output.name]!);
      expect(g.mean).toBeGreaterThan(1e-4);
      expect(g.variance).toBeGreaterThan(1e-4);
      tf.dispose([xStart, noise, output, grads]);
    });
  });
}
