import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GaussianDiffusion, namedBetaSchedule, type DiffusionModel, type ModelMeanType } from '../../src/index';
import { useBackend } from '../backends';
import { gaussianOracle, moments } from '../gaussian-oracle';
import { expectDifflibError } from '../helpers';

const betas = namedBetaSchedule('cosine', 1000);
const make = (modelMeanType: ModelMeanType) =>
  new GaussianDiffusion({ betas, modelMeanType, modelVarType: 'fixed_small', lossType: 'mse' });
const close = (a: tf.Tensor, b: tf.Tensor, tol: number) =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!) <= tol;

describe('v-prediction, min-SNR-γ weighting and classifier guidance', () => {
  let x0: tf.Tensor;
  let noise: tf.Tensor;
  beforeAll(async () => {
    await useBackend('cpu');
    x0 = tf.randomUniform([3, 4, 4, 2], -1, 1, 'float32', 1);
    noise = tf.randomNormal([3, 4, 4, 2], 0, 1, 'float32', 2);
  });
  afterAll(() => tf.dispose([x0, noise]));

  it('v = √ᾱ ε − √(1−ᾱ) x_0: a model returning the true v recovers x_0 and has zero loss', () => {
    const d = make('v');
    const t = [10, 500, 990];
    const xT = d.qSample(x0, t, noise);
    const ab = tf.tensor(t.map((i) => d.alphasCumprod[i]!), [3, 1, 1, 1]);
    const trueV = tf.sub(tf.mul(tf.sqrt(ab), noise), tf.mul(tf.sqrt(tf.sub(1, ab)), x0));
    const model: DiffusionModel = () => tf.clone(trueV);
    const out = d.pMeanVariance(model, xT, t, { clipDenoised: false });
    expect(close(out.predXStart, x0, 1e-4)).toBe(true);
    const losses = d.trainingLosses(model, x0, t, { noise });
    expect(Math.max(...losses.mse!.dataSync())).toBeLessThan(1e-10);
    tf.dispose([xT, ab, trueV, out, losses]);
  });

  it('DDIM with a v-predicting exact denoiser samples the Gaussian data distribution', async () => {
    const d = make('v');
    const oracle = gaussianOracle(d, 0.3, 0.2, 'v');
    // 200 steps: DDIM is a first-order ODE solver and at 50 steps it shrinks the std by ~5%.
    const x = await d.respace('ddim200').ddimSampleLoop(oracle.model, [64, 8, 8, 1], { seed: 3, clipDenoised: false });
    const m = moments(x);
    // 4096 samples: 5 standard errors of the mean (0.003) and of the std (0.0022).
    expect(Math.abs(m.mean - 0.3)).toBeLessThan(0.016);
    expect(Math.abs(m.std - 0.2)).toBeLessThan(0.012);
    tf.dispose(x);
    oracle.dispose();
  });

  for (const [meanType, weight] of [
    ['epsilon', (snr: number, g: number) => Math.min(snr, g) / snr],
    ['start_x', (snr: number, g: number) => Math.min(snr, g)],
    ['v', (snr: number, g: number) => Math.min(snr, g) / (snr + 1)],
  ] as const) {
    it(`min-SNR-γ scales the ${meanType} mse by its weight at each t`, () => {
      const d = make(meanType);
      const model: DiffusionModel = (x) => tf.mul(x, 0.5);
      const t = [5, 300, 999];
      const plain = d.trainingLosses(model, x0, t, { noise });
      const weighted = d.trainingLosses(model, x0, t, { noise, minSnrGamma: 5 });
      const p = plain.mse!.dataSync();
      const w = weighted.mse!.dataSync();
      t.forEach((step, b) => {
        const snr = d.alphasCumprod[step]! / (1 - d.alphasCumprod[step]!);
        expect(w[b]! / p[b]!).toBeCloseTo(weight(snr, 5), 5);
      });
      tf.dispose([plain, weighted]);
    });
  }

  it('min-SNR-γ is refused for previous_x and for γ ≤ 0', () => {
    const model: DiffusionModel = (x) => tf.clone(x);
    expectDifflibError(() => make('previous_x').trainingLosses(model, x0, [1, 2, 3], { minSnrGamma: 5 }), 'trainingLosses', 'options.minSnrGamma');
    expectDifflibError(() => make('epsilon').trainingLosses(model, x0, [1, 2, 3], { minSnrGamma: 0 }), 'trainingLosses', 'options.minSnrGamma');
  });

  it('classifier guidance shifts the ancestral mean by Σ·∇log p(y|x_t)', () => {
    const d = make('epsilon');
    const model: DiffusionModel = (x) => tf.mul(x, 0.3);
    const grad = tf.randomNormal(x0.shape, 0, 1, 'float32', 4);
    const t = [0, 400, 800];
    const plain = d.pSample(model, x0, t, { noise, clipDenoised: false });
    const guided = d.pSample(model, x0, t, { noise, clipDenoised: false, condFn: () => tf.clone(grad) });
    const variance = tf.tensor(t.map((i) => d.posteriorVariance[i]!), [3, 1, 1, 1]);
    const expected = tf.add(plain.sample, tf.mul(variance, grad));
    expect(close(guided.sample, expected, 1e-6)).toBe(true);
    tf.dispose([grad, plain, guided, variance, expected]);
  });

  it('classifier guidance in DDIM moves ε̂ by −√(1−ᾱ)·∇log p(y|x_t)', () => {
    const d = make('epsilon');
    const t = [200, 700, 900];
    const grad = tf.randomNormal(x0.shape, 0, 1, 'float32', 5);
    const sqrtOneMinus = tf.tensor(t.map((i) => d.sqrtOneMinusAlphasCumprod[i]!), [3, 1, 1, 1]);
    const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', 6);
    // Guiding a model that predicts ε equals not guiding one that predicts ε − √(1−ᾱ)∇.
    const shifted = tf.sub(eps, tf.mul(sqrtOneMinus, grad));
    const guided = d.ddimSample(() => tf.clone(eps), x0, t, { clipDenoised: false, condFn: () => tf.clone(grad) });
    const reference = d.ddimSample(() => tf.clone(shifted), x0, t, { clipDenoised: false });
    // Same quantities by two float32 routes; x̂_0 reaches ~30 at t = 900.
    expect(close(guided.sample, reference.sample, 1e-5)).toBe(true);
    expect(close(guided.predXStart, reference.predXStart, 1e-4)).toBe(true);
    tf.dispose([grad, sqrtOneMinus, eps, shifted, guided, reference]);
  });

  it('condFn receives the model timesteps and must return a gradient shaped like x', () => {
    const d = make('epsilon').respace('ddim10');
    let seen: number[] = [];
    const model: DiffusionModel = (x) => tf.zerosLike(x);
    const out = d.pSample(model, x0, 3, {
      condFn: (x, t) => {
        seen = Array.from(t.dataSync());
        return tf.zerosLike(x);
      },
    });
    expect(seen).toEqual([300, 300, 300]);
    tf.dispose(out);
    expect(() => d.pSample(model, x0, 3, { condFn: () => tf.zeros([1]) })).toThrow('condFn output');
    expectDifflibError(() => d.pSample(model, x0, 3, { condFn: 'grad' as never }), 'pSample', 'options.condFn');
  });
});
