import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GaussianDiffusion,
  LossSecondMomentResampler,
  UniformSampler,
  approxStandardNormalCdf,
  discretizedGaussianLogLikelihood,
  meanFlat,
  namedBetaSchedule,
  normalKl,
  timestepEmbedding,
  type DiffusionModel,
  type LossType,
  type ModelVarType,
  type TimestepsInput,
} from '../../src/index';
import { NODE_BACKENDS, useBackend } from '../backends';
import { countReadbacks, expectNoLeak } from '../helpers';

const SHAPE = [2, 4, 4, 3];

/** A model made only of device ops: no readback of its own. */
function fakeModel(varType: ModelVarType): DiffusionModel {
  const channels = varType.startsWith('learned') ? 6 : 3;
  return (x, t) =>
    tf.tidy(() => {
      const tScale = tf.reshape(tf.div(tf.cast(t, 'float32'), 100), [-1, 1, 1, 1]);
      const base = tf.tanh(tf.add(tf.concat([x, x], -1), tScale));
      return tf.slice(base, [0, 0, 0, 0], [...x.shape.slice(0, 3), channels]);
    });
}

for (const backend of NODE_BACKENDS) {
  describe(`memory and readbacks on ${backend}`, () => {
    let x: tf.Tensor;
    let noise: tf.Tensor;
    let tTensor: tf.Tensor1D;
    beforeAll(async () => {
      await useBackend(backend);
      x = tf.randomUniform(SHAPE, -1, 1, 'float32', 5);
      noise = tf.randomNormal(SHAPE, 0, 1, 'float32', 6);
      tTensor = tf.tensor1d([0, 57], 'int32');
    });
    afterAll(() => tf.dispose([x, noise, tTensor]));

    const cases: Array<[string, ModelVarType, LossType]> = [
      ['learned_range / rescaled_mse', 'learned_range', 'rescaled_mse'],
      ['fixed_small / mse', 'fixed_small', 'mse'],
      ['learned / kl', 'learned', 'kl'],
      ['fixed_large / rescaled_kl', 'fixed_large', 'rescaled_kl'],
    ];
    for (const [label, modelVarType, lossType] of cases) {
      for (const timesteps of ['array', 'tensor'] as const) {
        it(`every GaussianDiffusion method leaks no tensor (${label}, t as ${timesteps})`, () => {
          const d = new GaussianDiffusion({ betas: namedBetaSchedule('cosine', 100), modelMeanType: 'epsilon', modelVarType, lossType });
          const model = fakeModel(modelVarType);
          const t: TimestepsInput = timesteps === 'array' ? [0, 57] : tTensor;
          expectNoLeak(() => d.qMeanVariance(x, t));
          expectNoLeak(() => d.qSample(x, t));
          expectNoLeak(() => d.qSample(x, t, noise));
          expectNoLeak(() => d.qPosteriorMeanVariance(x, noise, t));
          expectNoLeak(() => d.pMeanVariance(model, x, t, { denoisedFn: (x0) => tf.mul(x0, 0.5) }));
          expectNoLeak(() => d.pSample(model, x, t));
          expectNoLeak(() => d.pSample(model, x, t, { noise }));
          expectNoLeak(() => d.ddimSample(model, x, t, { eta: 0 }));
          expectNoLeak(() => d.ddimSample(model, x, t, { eta: 1, seed: 3 }));
          expectNoLeak(() => d.ddimReverseSample(model, x, t));
          expectNoLeak(() => d.trainingLosses(model, x, t));
          expectNoLeak(() => d.trainingLosses(model, x, t, { noise }));
          expectNoLeak(() => d.vbTermsBpd(model, x, noise, t));
          expectNoLeak(() => d.priorBpd(x));
        });
      }
    }

    it('calcBpdLoop leaks no tensor and never disposes the caller’s noise', () => {
      const d = new GaussianDiffusion({
        betas: namedBetaSchedule('cosine', 10),
        modelMeanType: 'epsilon',
        modelVarType: 'learned_range',
        lossType: 'mse',
      });
      expectNoLeak(() => d.calcBpdLoop(fakeModel('learned_range'), x, { seed: 1 }));
      expectNoLeak(() => d.calcBpdLoop(fakeModel('learned_range'), x, { noise: () => noise }));
      expect(noise.isDisposed).toBe(false);
    });

    it('a training step (loss, gradients, Adam update) leaks no tensor', () => {
      const d = new GaussianDiffusion({
        betas: namedBetaSchedule('cosine', 100),
        modelMeanType: 'epsilon',
        modelVarType: 'learned_range',
        lossType: 'rescaled_mse',
      });
      const w = tf.variable(tf.fill([1, 1, 1, 6], 0.1));
      const model: DiffusionModel = (xt) => tf.mul(tf.concat([xt, xt], -1), w);
      const optimizer = tf.train.adam(1e-3);
      const step = () => optimizer.minimize(() => tf.mean(d.trainingLosses(model, x, [3, 90], { seed: 1 }).loss));
      tf.dispose(step() ?? []); // Adam creates its slots on the first step.
      expectNoLeak(() => step() ?? []);
      optimizer.dispose();
      w.dispose();
    });

    it('losses, embedding and timestep samplers leak no tensor', () => {
      expectNoLeak(() => normalKl(x, noise, 0, 0));
      expectNoLeak(() => approxStandardNormalCdf(x));
      const logScales = tf.zerosLike(x);
      expectNoLeak(() => discretizedGaussianLogLikelihood(x, { means: noise, logScales }));
      logScales.dispose();
      expectNoLeak(() => meanFlat(x));
      expectNoLeak(() => timestepEmbedding(tTensor, 16));
      const uniform = new UniformSampler(10).sample(4, { seed: 1 });
      tf.dispose([uniform.timesteps, uniform.weights]);
      expectNoLeak(() => {
        const s = new LossSecondMomentResampler(10).sample(4, { seed: 1 });
        return [s.timesteps, s.weights];
      });
    });

    it('a sampling step and a training-loss step read nothing back from the device', () => {
      const d = new GaussianDiffusion({
        betas: namedBetaSchedule('cosine', 100),
        modelMeanType: 'epsilon',
        modelVarType: 'learned_range',
        lossType: 'rescaled_mse',
      });
      const model = fakeModel('learned_range');
      for (const t of [[0, 57], tTensor] as TimestepsInput[]) {
        expect(countReadbacks(() => tf.dispose(d.pSample(model, x, t)))).toBe(0);
        expect(countReadbacks(() => tf.dispose(d.ddimSample(model, x, t, { eta: 0.5 })))).toBe(0);
        expect(countReadbacks(() => tf.dispose(d.trainingLosses(model, x, t)))).toBe(0);
      }
      // The counter does see a readback when one happens.
      expect(countReadbacks(() => x.dataSync())).toBeGreaterThan(0);
    });
  });
}
