// EulerDiscreteScheduler, EulerAncestralDiscreteScheduler and HeunDiscreteScheduler beyond
// the diffusers reference cases (scheduler-suite.ts): the paths no case covers, checked on
// an exact Gaussian, where data N(0, s²I) has the exact denoiser D(x; σ) = s²/(s²+σ²)·x,
// so the probability-flow ODE dx/dσ = (x − D)/σ = σx/(s²+σ²) is linear and solved by
// x(σ) = x(σ_0)·√((s²+σ²)/(s²+σ_0²)); the σ tables against their defining formulas and
// numpy; and every refusal.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  HeunDiscreteScheduler,
  schedulerFromConfig,
  type Scheduler,
  type SchedulerStepOptions,
} from '../../src/index';
import { sigmaToT } from '../../src/sampling/schedulers/sigmas';
import { NODE_BACKENDS, useBackend } from '../backends';
import { countReadbacks, expectDifflibError } from '../helpers';

type Prediction = 'epsilon' | 'v_prediction' | 'sample';
const SD = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;

/**
 * The exact model output for data N(0, s²I) at σ, given the scaled input x_in = x/√(σ²+1):
 * D = s²/(s²+σ²)·x_in·c with c = √(σ²+1); ε̂ = (x − D)/σ = x_in·c·σ/(s²+σ²);
 * v̂ = (x_in − c·D)/σ (so that v̂·(−σ/c) + x/c² = D); or D itself.
 */
function gaussianModel(xIn: tf.Tensor, sigma: number, s: number, type: Prediction): tf.Tensor {
  const c = Math.sqrt(sigma * sigma + 1);
  const dCoef = ((s * s) / (s * s + sigma * sigma)) * c;
  if (type === 'sample') return tf.mul(xIn, dCoef);
  if (type === 'epsilon') return tf.mul(xIn, (c * sigma) / (s * s + sigma * sigma));
  return tf.mul(xIn, (1 - c * dCoef) / sigma);
}

/** The sampling loop with the exact Gaussian model; returns the final sample. */
function sampleGaussian(scheduler: Scheduler, xT: tf.Tensor, s: number, type: Prediction, options: (k: number) => SchedulerStepOptions = () => ({})): tf.Tensor {
  let x = tf.clone(xT);
  Array.from(scheduler.timesteps).forEach((t, k) => {
    const input = scheduler.scaleModelInput(x, t);
    const out = gaussianModel(input, scheduler.sigmas![k]!, s, type);
    const { prevSample, predOriginalSample } = scheduler.step(out, t, x, options(k));
    tf.dispose([input, out, x, predOriginalSample!]);
    x = prevSample;
  });
  return x;
}

/** n normal values standardised to mean 0 and standard deviation `scale` exactly (so variances below are exact ratios). */
function standardNormal(n: number, seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => {
    const z = tf.randomNormal([n, 1, 1, 1], 0, 1, 'float32', seed);
    const { mean, variance } = tf.moments(z);
    return tf.mul(tf.div(tf.sub(z, mean), tf.sqrt(variance)), scale);
  });
}

function variance(x: tf.Tensor): number {
  return tf.tidy(() => tf.moments(x).variance.dataSync()[0]!);
}

/** Final variance of samples started at N(0, (s² + σ_0²)I), the exact marginal at σ_0. */
function finalVariance(scheduler: Scheduler, n: number, s: number, type: Prediction = 'epsilon'): number {
  scheduler.setTimesteps(n);
  const sigma0 = scheduler.sigmas![0]!;
  const xT = standardNormal(4096, 7, Math.sqrt(s * s + sigma0 * sigma0));
  const x = sampleGaussian(scheduler, xT, s, type);
  const v = variance(x);
  tf.dispose([xT, x]);
  return v;
}

/** What N Euler steps over `sigmas` multiply x by on the exact Gaussian: ∏ (1 + (σ_{i+1} − σ_i)·σ_i/(s² + σ_i²)). */
function eulerGain(sigmas: ArrayLike<number>, steps: number, s: number): number {
  let gain = 1;
  for (let i = 0; i < steps; i++) gain *= 1 + ((sigmas[i + 1]! - sigmas[i]!) * sigmas[i]!) / (s * s + sigmas[i]! * sigmas[i]!);
  return gain;
}

/** max |a − b| relative to max |b|. */
function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(b))).dataSync()[0]!);
}

for (const backend of NODE_BACKENDS) {
  describe(`sigma schedulers on the exact Gaussian (${backend})`, () => {
    beforeAll(() => useBackend(backend));

    it('Euler is exactly the Euler recursion of the linear ODE, for every prediction type', () => {
      const s = 0.5;
      const finals = (['epsilon', 'v_prediction', 'sample'] as const).map((type) => {
        const scheduler = new EulerDiscreteScheduler({ ...SD, predictionType: type });
        scheduler.setTimesteps(12);
        const xT = standardNormal(256, 1, scheduler.initNoiseSigma);
        const before = tf.memory().numTensors;
        const x = sampleGaussian(scheduler, xT, s, type);
        expect(tf.memory().numTensors).toBe(before + 1);
        const expected = tf.mul(xT, eulerGain(scheduler.sigmas!, 12, s));
        expect(maxRelDiff(x, expected)).toBeLessThan(2e-5);
        tf.dispose([xT, expected]);
        return x;
      });
      expect(maxRelDiff(finals[1]!, finals[0]!)).toBeLessThan(2e-5);
      expect(maxRelDiff(finals[2]!, finals[0]!)).toBeLessThan(2e-5);
      tf.dispose(finals);
    });

    it("Heun's samples have variance near s², markedly nearer than Euler's with as many model calls", () => {
      for (const s of [0.5, 1, 2]) {
        const heun = finalVariance(new HeunDiscreteScheduler(SD), 20, s); // 39 model calls
        const euler = finalVariance(new EulerDiscreteScheduler(SD), 39, s);
        const heunError = Math.abs(heun / (s * s) - 1);
        const eulerError = Math.abs(euler / (s * s) - 1);
        expect(heunError, `Heun, s = ${s}`).toBeLessThan(0.025); // measured 0.010–0.019
        expect(eulerError, `Euler, s = ${s}`).toBeLessThan(0.15); // measured 0.054–0.126
        expect(heunError * 4, `Heun vs Euler, s = ${s}`).toBeLessThan(eulerError);
      }
      // Both converge: Heun's error is O(h²), Euler's O(h).
      expect(Math.abs(finalVariance(new HeunDiscreteScheduler(SD), 60, 1) - 1)).toBeLessThan(0.003);
      expect(Math.abs(finalVariance(new EulerDiscreteScheduler({ ...SD, useKarrasSigmas: true }), 200, 1) - 1)).toBeLessThan(0.03);
    });

    it('Heun gives the same samples for epsilon, v_prediction and sample models (with clipping that clips nothing)', () => {
      const [eps, v, x0] = (['epsilon', 'v_prediction', 'sample'] as const).map((type) => {
        const scheduler = new HeunDiscreteScheduler({ ...SD, useKarrasSigmas: true, predictionType: type, clipSample: true, clipSampleRange: 1e6 });
        scheduler.setTimesteps(6);
        const xT = standardNormal(256, 2, scheduler.initNoiseSigma);
        const x = sampleGaussian(scheduler, xT, 0.7, type);
        xT.dispose();
        return x;
      });
      expect(maxRelDiff(v!, eps!)).toBeLessThan(2e-5);
      expect(maxRelDiff(x0!, eps!)).toBeLessThan(2e-5);
      tf.dispose([eps!, v!, x0!]);
    });

    it('Euler ancestral: x + (σ_down − σ)·(x − D)/σ + σ_up·z at every step, ending on x̂_0', () => {
      const s = 0.8;
      for (const type of ['epsilon', 'v_prediction'] as const) {
        const scheduler = new EulerAncestralDiscreteScheduler({ ...SD, predictionType: type });
        scheduler.setTimesteps(8);
        const sig = Array.from(scheduler.sigmas!);
        let x = standardNormal(256, 3, scheduler.initNoiseSigma);
        Array.from(scheduler.timesteps).forEach((t, i) => {
          const [from, to] = [sig[i]!, sig[i + 1]!];
          const up = Math.sqrt((to * to * (from * from - to * to)) / (from * from));
          const down = Math.sqrt(to * to - up * up);
          const z = standardNormal(256, 100 + i);
          const input = scheduler.scaleModelInput(x, t);
          const out = gaussianModel(input, from, s, type);
          const { prevSample, predOriginalSample } = scheduler.step(out, t, x, { noise: z });
          const expected = tf.tidy(() => tf.add(tf.mul(x, 1 + ((down - from) * from) / (s * s + from * from)), tf.mul(z, up)));
          expect(maxRelDiff(prevSample, expected), `step ${i}`).toBeLessThan(1e-4);
          if (i === sig.length - 2) expect(maxRelDiff(prevSample, predOriginalSample!)).toBeLessThan(1e-5); // σ_up = σ_down = 0
          tf.dispose([z, input, out, x, expected, predOriginalSample!]);
          x = prevSample;
        });
        x.dispose();
      }
    });
  });
}

describe('Euler step options: churn (Karras et al. 2022, Algorithm 2)', () => {
  beforeAll(() => useBackend('cpu'));
  const s = 0.6;

  it('draws noise and churns only where s_tmin ≤ σ ≤ s_tmax; elsewhere it is the plain step', () => {
    const plain = new EulerDiscreteScheduler(SD);
    const outside = new EulerDiscreteScheduler(SD);
    plain.setTimesteps(10);
    const xT = standardNormal(64, 4, plain.initNoiseSigma);
    const a = sampleGaussian(plain, xT, s, 'epsilon');
    outside.setTimesteps(10);
    // No noise is passed: a step that drew would draw at random and differ.
    const b = sampleGaussian(outside, xT, s, 'epsilon', () => ({ sChurn: 5, sTmin: 100, sTmax: 200 }));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([xT, a, b]);
  });

  it('σ̂ = σ(1 + γ), x̂ = x + √(σ̂² − σ²)·s_noise·z, then an Euler step from σ̂; γ at most √2 − 1', () => {
    for (const sChurn of [2, 1000]) {
      const scheduler = new EulerDiscreteScheduler(SD);
      scheduler.setTimesteps(10);
      const sig = Array.from(scheduler.sigmas!);
      const gamma = Math.min(sChurn / (sig.length - 1), Math.SQRT2 - 1);
      const [sigma, next] = [sig[0]!, sig[1]!];
      const sigmaHat = sigma * (1 + gamma);
      const x = standardNormal(64, 5, scheduler.initNoiseSigma);
      const z = standardNormal(64, 6);
      const input = scheduler.scaleModelInput(x, scheduler.timesteps[0]!);
      const eps = gaussianModel(input, sigma, s, 'epsilon'); // the model sees σ, the step uses σ̂
      const { prevSample, predOriginalSample } = scheduler.step(eps, scheduler.timesteps[0]!, x, { sChurn, noise: z, sNoise: 0.9 });
      const expected = tf.tidy(() => {
        const xHat = tf.add(x, tf.mul(z, Math.sqrt(sigmaHat * sigmaHat - sigma * sigma) * 0.9));
        const x0 = tf.sub(xHat, tf.mul(eps, sigmaHat));
        return { x0, prev: tf.add(xHat, tf.mul(tf.div(tf.sub(xHat, x0), sigmaHat), next - sigmaHat)) };
      });
      expect(maxRelDiff(predOriginalSample!, expected.x0)).toBeLessThan(1e-4);
      expect(maxRelDiff(prevSample, expected.prev)).toBeLessThan(1e-4);
      tf.dispose([x, z, input, eps, prevSample, predOriginalSample!, expected.x0, expected.prev]);
    }
  });
});

describe('sigma tables', () => {
  beforeAll(() => useBackend('cpu'));
  const trainSigmas = (s: EulerDiscreteScheduler) => Array.from(s.alphasCumprod, (a) => Math.fround(Math.sqrt(Math.fround(Math.fround(1 - a) / a))));

  it("σ → t is numpy's float32 arithmetic (diffusers' _sigma_to_t under numpy 1.24)", () => {
    const logSigmas = new Float32Array([-3.5, -1.25, 0.1, 0.10390625, 2.6]);
    // _sigma_to_t(np.float64(σ), np.array([...], dtype=np.float32)) for σ = 0.3, 1.107, 5, 1e-12, 100.
    expect([0.3, 1.107, 5, 1e-12, 100].map((sigma) => sigmaToT(sigma, logSigmas))).toEqual([1.0340942069888115, 2.4233341217041016, 3.6031550765037537, 0, 4]);
  });

  it('Karras σ between sigmaMin and sigmaMax: σ^(1/7) evenly spaced, t the fractional timestep of each σ', () => {
    const s = new EulerDiscreteScheduler({ ...SD, useKarrasSigmas: true, sigmaMin: 0.1, sigmaMax: 10 });
    s.setTimesteps(8);
    const sig = Array.from(s.sigmas!);
    expect(sig).toHaveLength(9);
    expect(sig[0]).toBe(Math.fround(10));
    expect(sig[7]).toBe(Math.fround(0.1));
    expect(sig[8]).toBe(0);
    for (let i = 1; i < 7; i++) expect(sig[i]! ** (1 / 7) - sig[i - 1]! ** (1 / 7)).toBeCloseTo((0.1 ** (1 / 7) - 10 ** (1 / 7)) / 7, 6);
    // Interpolating log σ of the training table at t gives σ back.
    const logTrain = trainSigmas(s).map(Math.log);
    Array.from(s.timesteps).forEach((t, i) => {
      const lo = Math.floor(t);
      const logSigma = logTrain[lo]! + (t - lo) * ((logTrain[lo + 1] ?? logTrain[lo]!) - logTrain[lo]!);
      expect(Math.abs(logSigma - Math.log(sig[i]!)), `t = ${t}`).toBeLessThan(2e-4);
    });
    expect(Array.from(s.timesteps).every((t, i, a) => i === 0 || t < a[i - 1]!)).toBe(true);
  });

  it('log_linear: N + 1 log-spaced σ from σ_max to σ_min, then the final σ, as diffusers makes them', () => {
    const s = new EulerDiscreteScheduler({ ...SD, interpolationType: 'log_linear' });
    s.setTimesteps(10);
    const train = trainSigmas(s);
    const sig = Array.from(s.sigmas!);
    expect(sig).toHaveLength(12);
    expect(s.timesteps).toHaveLength(10);
    expect(sig[0]! / train[999]! - 1).toBeCloseTo(0, 6);
    expect(sig[10]! / train[0]! - 1).toBeCloseTo(0, 6);
    expect(sig[11]).toBe(0);
    for (let i = 1; i <= 10; i++) expect(Math.log(sig[i]!) - Math.log(sig[i - 1]!)).toBeCloseTo((Math.log(train[0]!) - Math.log(train[999]!)) / 10, 5);
    // The loop runs N steps, σ_0 → … → σ_N = σ(t = 0): the final σ = 0 is not reached.
    const xT = standardNormal(64, 8, s.initNoiseSigma);
    const x = sampleGaussian(s, xT, 1, 'epsilon');
    const expected = tf.mul(xT, eulerGain(sig, 10, 1));
    expect(maxRelDiff(x, expected)).toBeLessThan(2e-5);
    tf.dispose([xT, x, expected]);
  });

  it("final_sigmas_type 'sigma_min' ends at σ(t = 0) instead of 0; nothing else changes", () => {
    const zero = new EulerDiscreteScheduler(SD);
    const min = new EulerDiscreteScheduler({ ...SD, finalSigmasType: 'sigma_min' });
    zero.setTimesteps(7);
    min.setTimesteps(7);
    expect(Array.from(min.sigmas!).slice(0, 7)).toEqual(Array.from(zero.sigmas!).slice(0, 7));
    expect(min.sigmas![7]).toBe(trainSigmas(min)[0]);
    expect(Array.from(min.timesteps)).toEqual(Array.from(zero.timesteps));
  });

  it('zero-SNR: ᾱ_{T−1} clamped to 2⁻²⁴, so σ_max = √((1 − 2⁻²⁴)·2²⁴) ≈ 4096', () => {
    const s = new EulerAncestralDiscreteScheduler({ rescaleBetasZeroSnr: true, timestepSpacing: 'trailing' });
    expect(s.alphasCumprod[999]).toBe(2 ** -24);
    expect(s.betas[999]).toBe(1);
    s.setTimesteps(5);
    expect(s.sigmas![0]).toBe(Math.fround(Math.sqrt(Math.fround((1 - 2 ** -24) * 2 ** 24))));
    expect(s.initNoiseSigma).toBe(s.sigmas![0]);
  });

  it('timestep spacing: linspace (fractional float32), leading (+ stepsOffset, init σ = √(σ_max² + 1)), trailing', () => {
    const linspace = new EulerDiscreteScheduler({ ...SD, stepsOffset: 1 });
    linspace.setTimesteps(4);
    expect(Array.from(linspace.timesteps)).toEqual([999, 666, 333, 0]);
    linspace.setTimesteps(7);
    expect(linspace.timesteps[1]).toBe(Math.fround(832.5));
    expect(linspace.timesteps[2]).toBe(Math.fround(666));
    const leading = new HeunDiscreteScheduler({ timestepSpacing: 'leading', stepsOffset: 1 });
    leading.setTimesteps(4);
    expect(Array.from(leading.timesteps)).toEqual([751, 501, 501, 251, 251, 1, 1]);
    const max = leading.sigmas![0]!;
    expect(leading.initNoiseSigma).toBe(Math.fround(Math.sqrt(Math.fround(Math.fround(max * max) + 1))));
    const trailing = new EulerAncestralDiscreteScheduler({ timestepSpacing: 'trailing', stepsOffset: 1 });
    trailing.setTimesteps(16);
    expect(Array.from(trailing.timesteps).slice(0, 4)).toEqual([999, 937, 874, 811]);
    expect(trailing.initNoiseSigma).toBe(trailing.sigmas![0]);
  });
});

describe('Heun: two stages per step', () => {
  beforeAll(() => useBackend('cpu'));

  it('timesteps and σ doubled, orders 1, 2, …, 1; the second stage scales its input by σ_{i+1}; history owned and freed', () => {
    const s = new HeunDiscreteScheduler(SD);
    s.setTimesteps(3);
    const t = Array.from(s.timesteps);
    const sig = Array.from(s.sigmas!);
    expect(t).toHaveLength(5);
    expect([t[1], t[3]]).toEqual([t[2], t[4]]);
    expect(sig).toHaveLength(6);
    expect([sig[1], sig[3], sig[5]]).toEqual([sig[2], sig[4], 0]);
    const base = tf.memory().numTensors;
    let x = standardNormal(16, 9, s.initNoiseSigma);
    const orders: number[] = [];
    t.forEach((tk, k) => {
      const input = s.scaleModelInput(x, tk);
      const ratio = tf.tidy(() => tf.mean(tf.div(tf.mul(input, Math.sqrt(sig[k]! ** 2 + 1)), x)).dataSync()[0]!);
      expect(ratio).toBeCloseTo(1, 5);
      const out = gaussianModel(input, sig[k]!, 1, 'epsilon');
      const step = s.step(out, tk, x);
      orders.push(step.order);
      tf.dispose([input, out, x, step.predOriginalSample!]);
      x = step.prevSample;
      // Besides x: the first stage of a step keeps x_i and its derivative until the second.
      expect(tf.memory().numTensors - base, `after call ${k}`).toBe(step.order === 1 && k < t.length - 1 ? 3 : 1);
    });
    expect(orders).toEqual([1, 2, 1, 2, 1]);
    expectDifflibError(() => s.step(x, t[4]!, x), 'HeunDiscreteScheduler.step', 't', 'UNSATISFIABLE');
    // setTimesteps mid-step frees the first stage's history.
    s.setTimesteps(3);
    const first = s.step(x, s.timesteps[0]!, x);
    expect(tf.memory().numTensors - base).toBe(5);
    s.setTimesteps(3);
    tf.dispose([first.prevSample, first.predOriginalSample!]);
    expect(tf.memory().numTensors - base).toBe(1);
    s.dispose();
    x.dispose();
  });
});

describe('sigma schedulers read nothing back and leak nothing', () => {
  beforeAll(() => useBackend('cpu'));

  it('scaleModelInput and step of each, Euler churned included', () => {
    const schedulers: [Scheduler, SchedulerStepOptions][] = [
      [new EulerDiscreteScheduler({ ...SD, predictionType: 'sample' }), { sChurn: 1, seed: 3 }],
      [new EulerAncestralDiscreteScheduler({ ...SD, predictionType: 'v_prediction' }), { seed: 4 }],
      [new HeunDiscreteScheduler({ ...SD, predictionType: 'sample' }), {}],
    ];
    for (const [s, options] of schedulers) {
      s.setTimesteps(4);
      const x = tf.ones([1, 2, 2, 3]);
      const before = tf.memory().numTensors;
      let reads = 0;
      for (const t of Array.from(s.timesteps)) {
        reads += countReadbacks(() => {
          const input = s.scaleModelInput(x, t);
          const { prevSample, predOriginalSample } = s.step(input, t, x, options);
          expect(predOriginalSample).not.toBe(input); // x̂_0 = the model output, but a copy the caller owns
          tf.dispose([input, prevSample, predOriginalSample!]);
        });
      }
      expect(reads).toBe(0);
      s.dispose();
      expect(tf.memory().numTensors).toBe(before);
      expect(x.isDisposed).toBe(false);
      x.dispose();
    }
  });
});

describe('sigma schedulers refuse bad input before any tensor', () => {
  beforeAll(() => useBackend('cpu'));
  const classes = [
    ['EulerDiscreteScheduler', () => new EulerDiscreteScheduler({ numTrainTimesteps: 100 })],
    ['EulerAncestralDiscreteScheduler', () => new EulerAncestralDiscreteScheduler({ numTrainTimesteps: 100 })],
    ['HeunDiscreteScheduler', () => new HeunDiscreteScheduler({ numTrainTimesteps: 100 })],
  ] as const;

  for (const [name, make] of classes) {
    it(`${name}: steps, order, t, shapes and options`, () => {
      const s = make();
      const x = tf.zeros([2, 4, 4, 3]);
      const doubled = tf.zeros([2, 4, 4, 6]);
      for (const n of [0, 101, 2.5]) expectDifflibError(() => s.setTimesteps(n), `${name}.setTimesteps`, 'numInferenceSteps');
      expectDifflibError(() => s.step(x, 99, x), `${name}.step`, 'this', 'UNSATISFIABLE');
      expectDifflibError(() => s.scaleModelInput(x, 99), `${name}.scaleModelInput`, 'this', 'UNSATISFIABLE');
      s.setTimesteps(4);
      const [t0, t1] = [s.timesteps[0]!, s.timesteps[1]!];
      expectDifflibError(() => s.step(x, t0 + 0.5, x), `${name}.step`, 't', 'OUT_OF_RANGE');
      expectDifflibError(() => s.scaleModelInput(x, Math.round(t1) + 0.25), `${name}.scaleModelInput`, 't', 'OUT_OF_RANGE');
      expectDifflibError(() => s.scaleModelInput('x' as never, t0), `${name}.scaleModelInput`, 'sample');
      expectDifflibError(() => s.step(doubled, t0, x), `${name}.step`, 'modelOutput', 'SHAPE_MISMATCH');
      expectDifflibError(() => s.step(x, t0, x, { eta: 1 }), `${name}.step`, 'options.eta', 'UNKNOWN_OPTION');
      const first = s.step(x, t0, x, { noise: x });
      tf.dispose([first.prevSample, first.predOriginalSample!]);
      // Steps go in order: after t0 comes t1 only.
      expectDifflibError(() => s.step(x, t0, x), `${name}.step`, 't', 'OUT_OF_RANGE');
      expectDifflibError(() => s.scaleModelInput(x, s.timesteps[s.timesteps.length - 1]!), `${name}.scaleModelInput`, 't', 'OUT_OF_RANGE');
      s.dispose();
      tf.dispose([x, doubled]);
    });
  }

  it('Euler step options out of their domain', () => {
    const s = new EulerDiscreteScheduler();
    s.setTimesteps(4);
    const x = tf.zeros([1, 2, 2, 3]);
    const t = s.timesteps[0]!;
    expectDifflibError(() => s.step(x, t, x, { sChurn: -1 }), 'EulerDiscreteScheduler.step', 'options.sChurn', 'INVALID_ARGUMENT');
    expectDifflibError(() => s.step(x, t, x, { sNoise: NaN }), 'EulerDiscreteScheduler.step', 'options.sNoise', 'INVALID_ARGUMENT');
    expectDifflibError(() => s.step(x, t, x, { sTmin: '0' as never }), 'EulerDiscreteScheduler.step', 'options.sTmin', 'INVALID_ARGUMENT');
    expectDifflibError(() => s.step(x, t, x, { sTmax: NaN }), 'EulerDiscreteScheduler.step', 'options.sTmax', 'INVALID_ARGUMENT');
    expectDifflibError(() => s.step(x, t, x, { order: 2 }), 'EulerDiscreteScheduler.step', 'options.order', 'UNKNOWN_OPTION');
    x.dispose();
  });

  it('config values out of their domain, and diffusers features difflib does not implement', () => {
    expectDifflibError(() => new EulerDiscreteScheduler({ interpolationType: 'cubic' as never }), 'EulerDiscreteScheduler', 'options.interpolationType');
    expectDifflibError(() => new EulerDiscreteScheduler({ finalSigmasType: 'one' as never }), 'EulerDiscreteScheduler', 'options.finalSigmasType');
    expectDifflibError(() => new EulerDiscreteScheduler({ sigmaMin: -1 }), 'EulerDiscreteScheduler', 'options.sigmaMin');
    expectDifflibError(() => new EulerDiscreteScheduler({ timestepSpacing: 'even' as never }), 'EulerDiscreteScheduler', 'options.timestepSpacing');
    expectDifflibError(() => new HeunDiscreteScheduler({ clipSampleRange: 0 }), 'HeunDiscreteScheduler', 'options.clipSampleRange');
    expectDifflibError(() => new EulerAncestralDiscreteScheduler({ predictionType: 'sample' as never }), 'EulerAncestralDiscreteScheduler', 'options.predictionType');
    const e = expectDifflibError(() => new EulerDiscreteScheduler({ useExponentialSigmas: true }), 'EulerDiscreteScheduler', 'options.useExponentialSigmas');
    expect(e.detail).toMatch(/not implemented by difflib/);
    expectDifflibError(() => new HeunDiscreteScheduler({ useBetaSigmas: true }), 'HeunDiscreteScheduler', 'options.useBetaSigmas');
    expectDifflibError(() => new EulerDiscreteScheduler({ timestepType: 'continuous' as never }), 'EulerDiscreteScheduler', 'options.timestepType');
    expectDifflibError(() => schedulerFromConfig({ _class_name: 'EulerDiscreteScheduler', use_beta_sigmas: true }), 'schedulerFromConfig', 'config.use_beta_sigmas');
    expectDifflibError(() => new HeunDiscreteScheduler({ rescaleBetasZeroSnr: true } as never), 'HeunDiscreteScheduler', 'options.rescaleBetasZeroSnr', 'UNKNOWN_OPTION');
    // The neutral values load (diffusers' full configs carry them).
    expect(() => new EulerDiscreteScheduler({ useExponentialSigmas: false, useBetaSigmas: false, timestepType: 'discrete' })).not.toThrow();
  });
});
