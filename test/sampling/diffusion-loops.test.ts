import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GaussianDiffusion, namedBetaSchedule, type DiffusionModel } from '../../src/index';
import { useBackend } from '../backends';
import { gaussianOracle, moments } from '../gaussian-oracle';
import { countReadbacksAsync, expectDifflibError } from '../helpers';

const base = new GaussianDiffusion({
  betas: namedBetaSchedule('cosine', 1000),
  modelMeanType: 'epsilon',
  modelVarType: 'fixed_small',
  lossType: 'mse',
});
const MU = 0.3;
const S = 0.2;
/** 4096 samples: the standard error of the mean is S/64 ≈ 0.003, of the std ≈ S/90. */
const SHAPE = [64, 8, 8, 1];

/** A device-only model: no readback of its own. */
const tanhModel: DiffusionModel = (x) => tf.tanh(x);

describe('sampling loops', () => {
  let oracle: ReturnType<typeof gaussianOracle>;
  beforeAll(async () => {
    await useBackend('cpu');
    oracle = gaussianOracle(base, MU, S);
  });
  afterAll(() => oracle.dispose());

  it('DDIM (η = 0) in 200 steps samples the Gaussian data distribution with the exact denoiser', async () => {
    // DDIM is a first-order ODE solver: at 50 steps it shrinks the std by ~5% here, at 200 by < 1%.
    const x0 = await base.respace('ddim200').ddimSampleLoop(oracle.model, SHAPE, { seed: 1, clipDenoised: false });
    const m = moments(x0);
    // 5 standard errors; the ODE from x_T ~ N(0, I) instead of N(α_T μ, …) adds ~1e-4.
    expect(Math.abs(m.mean - MU)).toBeLessThan(0.016);
    expect(Math.abs(m.std - S)).toBeLessThan(0.012);
    x0.dispose();
  });

  it('ancestral sampling in 100 respaced steps samples it too, given the exact reverse variance', async () => {
    // For Gaussian data p(x_{t−1} | x_t) is Gaussian with mean μ̃(x̂_0, x_t) and variance
    // β̃_t + coef1_t²·Var[x_0 | x_t], Var[x_0 | x_t] = s²σ²/(α²s² + σ²). A 'learned'
    // variance model can output its log exactly, so the sampler has no bias to hide.
    const d = new GaussianDiffusion({ betas: base.betas, modelMeanType: 'epsilon', modelVarType: 'learned', lossType: 'mse' }).respace('100');
    const logVar = new Float32Array(base.numTimesteps);
    d.timestepMap.forEach((orig, j) => {
      const ab = base.alphasCumprod[orig]!;
      const posteriorX0Var = (S * S * (1 - ab)) / (ab * S * S + 1 - ab);
      logVar[orig] = Math.log(d.posteriorVariance[j]! + d.posteriorMeanCoef1[j]! ** 2 * posteriorX0Var);
    });
    // At the last step (t = 0, β̃ = 0) the sample is the mean: x̂_0's spread is the data's only there.
    const logVarTable = tf.tensor1d(logVar);
    const model: DiffusionModel = (x, t) =>
      tf.tidy(() => {
        const lv = tf.mul(tf.ones(x.shape), tf.reshape(tf.gather(logVarTable, t), [-1, 1, 1, 1]));
        return tf.concat([oracle.model(x, t), lv], -1);
      });
    const x0 = await d.pSampleLoop(model, SHAPE, { seed: 2, clipDenoised: false });
    const m = moments(x0);
    expect(Math.abs(m.mean - MU)).toBeLessThan(0.016);
    expect(Math.abs(m.std - S)).toBeLessThan(0.012);
    tf.dispose([x0, logVarTable]);
  });

  it('pSampleLoop is pSample stepped by hand with the same seeds, and calls the model with original timesteps', async () => {
    const d = base.respace('ddim10');
    const seen: number[] = [];
    const model: DiffusionModel = (x, t) => {
      seen.push(t.dataSync()[0]!);
      return tf.mul(x, 0.1);
    };
    const shape = [2, 3, 3, 1];
    const looped = await d.pSampleLoop(model, shape, { seed: 7 });
    expect(seen).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    let x = tf.randomNormal(shape, 0, 1, 'float32', 7);
    for (let t = 9; t >= 0; t--) {
      const { sample, predXStart } = d.pSample(model, x, t, { seed: 7 + 10 - t });
      tf.dispose([x, predXStart]);
      x = sample;
    }
    expect(Array.from(looped.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([looped, x]);
  });

  it('progressive loops yield every step, own their tensors, report progress, and leak nothing', async () => {
    const d = base.respace('ddim20');
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const ts: number[] = [];
    const xT = tf.randomNormal([2, 4, 4, 1], 0, 1, 'float32', 3);
    for await (const step of d.ddimSampleLoopProgressive(tanhModel, [2, 4, 4, 1], { initialNoise: xT, onProgress: (done) => progress.push(done) })) {
      ts.push(step.t);
      expect(step.sample.isDisposed).toBe(false);
    }
    expect(ts).toEqual(Array.from({ length: 20 }, (_, i) => 19 - i));
    expect(progress).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(xT.isDisposed).toBe(false); // the caller's x_T
    xT.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes x_T as initialNoise; the old name noise still works (deprecated, warned once) but not both', async () => {
    const xT = tf.randomNormal([2, 4, 4, 1], 0, 1, 'float32', 8);
    const d = base.respace('ddim5');
    const a = await d.ddimSampleLoop(tanhModel, [2, 4, 4, 1], { initialNoise: xT });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const b = await d.ddimSampleLoop(tanhModel, [2, 4, 4, 1], { noise: xT });
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose((await d.ddimSampleLoop(tanhModel, [2, 4, 4, 1], { noise: xT })));
      expect(warn).toHaveBeenCalledTimes(1);
      b.dispose();
    } finally {
      warn.mockRestore();
    }
    expectDifflibError(() => d.pSampleLoopProgressive(tanhModel, [2, 4, 4, 1], { noise: xT, initialNoise: xT }), 'pSampleLoopProgressive', 'options.noise');
    tf.dispose([a, xT]);
  });

  it('reads nothing back from the device inside the loop', async () => {
    const reads = await countReadbacksAsync(async () => {
      tf.dispose(await base.respace('ddim10').pSampleLoop(tanhModel, [2, 4, 4, 1], { seed: 1 }));
      tf.dispose(await base.respace('ddim10').ddimSampleLoop(tanhModel, [2, 4, 4, 1], { seed: 1, eta: 0.5 }));
    });
    expect(reads).toBe(0);
  });

  it('stops on an abort signal between steps, rejecting with its reason and leaking nothing', async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    let steps = 0;
    const run = base.respace('ddim50').pSampleLoop(tanhModel, [2, 4, 4, 1], {
      onProgress: (done) => {
        steps = done;
        if (done === 5) controller.abort(new Error('user cancelled'));
      },
      signal: controller.signal,
    });
    await expect(run).rejects.toThrow('user cancelled');
    expect(steps).toBe(5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses bad shapes and x_T before making tensors', () => {
    expectDifflibError(() => base.pSampleLoopProgressive(tanhModel, [4]), 'pSampleLoopProgressive', 'shape');
    expectDifflibError(() => base.ddimSampleLoopProgressive(tanhModel, [2, 0, 3]), 'ddimSampleLoopProgressive', 'shape');
    const xT = tf.zeros([2, 4, 4, 1]);
    expectDifflibError(() => base.pSampleLoopProgressive(tanhModel, [2, 4, 4, 3], { initialNoise: xT }), 'pSampleLoopProgressive', 'options.initialNoise');
    xT.dispose();
    expectDifflibError(() => base.ddimSampleLoopProgressive(tanhModel, [2, 4, 4, 1], { eta: -1 }), 'ddimSampleLoopProgressive', 'options.eta');
  });
});

describe('LossSecondMomentResampler state', () => {
  it('round-trips its loss history and refuses a history of another size', async () => {
    const { LossSecondMomentResampler } = await import('../../src/index');
    const a = new LossSecondMomentResampler(3, { historyPerTerm: 2 });
    a.updateWithAllLosses([0, 0, 1, 1, 2, 2, 0], [1, 2, 3, 4, 5, 6, 7]);
    const b = new LossSecondMomentResampler(3, { historyPerTerm: 2 });
    b.loadState(a.state());
    expect(Array.from(b.weights())).toEqual(Array.from(a.weights()));
    expect(b.state()).toEqual({ lossHistory: [2, 7, 3, 4, 5, 6], lossCounts: [2, 2, 2] });
    expectDifflibError(() => b.loadState({ lossHistory: [1], lossCounts: [1, 1, 1] }), 'LossSecondMomentResampler.loadState', 'state');
  });
});
