import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DifflibError } from '../../src/errors';
import { annealedLangevinDynamics, geometricSigmas, type AnnealedLangevinOptions, type ScoreModel } from '../../src/score';
import { NODE_BACKENDS, useBackend } from '../backends';
import { gaussianScore, moments } from './gaussian-score';

const FN = 'annealedLangevinDynamics';
const D = 16;
/** Data N(μ, s² I): s = 0.25, μ spread over [−0.5, 0.5]; the chain starts from U(−1, 1). */
const S2 = 0.0625;
const MU = Array.from({ length: D }, (_, d) => -0.5 + d / (D - 1));
const INIT_VARIANCE = 1 / 3;
const SIGMAS = geometricSigmas(1, 0.1, 5);
const SIGMA_L = 0.1;
const T = 100;
const EPS = 4e-3;
const TAU2 = S2 + SIGMA_L ** 2; // variance of the perturbed data at σ_L
/** Independent scalars per run: [B, D] samples. */
const B = 1024;
const N = B * D;

/**
 * With the exact score, each Langevin step is linear: x − μ ← ρ_i (x − μ) + √α_i z with
 * ρ_i = 1 − α_i/(2(s² + σ_i²)). So the mean's offset shrinks by ρ_i and the variance maps
 * v ← ρ_i² v + α_i at every step: the exact mean and variance of the chain's output, for
 * any start, in float64.
 */
function chainMoments(initOffset: number): { offset: number; variance: number } {
  let offset = initOffset;
  let variance = INIT_VARIANCE;
  for (const sigma of SIGMAS) {
    const alpha = EPS * (sigma / SIGMA_L) ** 2;
    const rho = 1 - alpha / (2 * (S2 + sigma ** 2));
    for (let t = 0; t < T; t++) {
      offset *= rho;
      variance = rho * rho * variance + alpha;
    }
  }
  return { offset, variance };
}

/** Pooled moments of x − m_d over every sample and dimension, m_d the exact per-dimension mean. */
function residualMoments(samples: Float32Array, exactMean: number[]): { mean: number; variance: number } {
  return moments(Float64Array.from(samples, (v, k) => v - exactMean[k % D]!));
}

/** Rejects with a DifflibError naming fn and argument, having made no tensor. */
async function expectRejection(body: () => Promise<unknown>, argument: string, code: string): Promise<void> {
  const before = tf.memory().numTensors;
  const err = await body().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `${FN} should reject for ${argument}`).toBeInstanceOf(DifflibError);
  expect((err as DifflibError).message.startsWith(`${FN}: ${argument}`), (err as DifflibError).message).toBe(true);
  expect((err as DifflibError).code).toBe(code);
  expect(tf.memory().numTensors, 'tensors made before the error').toBe(before);
}

for (const backend of NODE_BACKENDS) {
  describe(`annealedLangevinDynamics on ${backend}`, () => {
    let mu: tf.Tensor1D;
    let xInit: tf.Tensor2D;
    beforeAll(async () => {
      await useBackend(backend);
      mu = tf.tensor1d(MU);
      xInit = tf.randomUniform([B, D], -1, 1, 'float32', 1);
    });
    afterAll(() => tf.dispose([mu, xInit]));
    afterEach(() => vi.restoreAllMocks());

    const options: AnnealedLangevinOptions = { stepsPerLevel: T, stepSize: EPS, seed: 2 };

    it('with the exact score of N(μ, s²I) ends at the chain’s exact mean and variance, ≈ μ and s² + σ_L²', async () => {
      const samples = await annealedLangevinDynamics(gaussianScore(mu, S2), xInit, SIGMAS, options);
      const exactMean = MU.map((m) => m + chainMoments(-m).offset);
      const { variance } = chainMoments(0);
      // The chain has mixed: the mean is μ to 1e-9, and the variance is within 0.2% of the
      // step-ε chain's stationary τ²/(1 − ε/(4τ²)), which is τ² = s² + σ_L² up to 1.4%.
      exactMean.forEach((m, d) => expect(Math.abs(m - MU[d]!)).toBeLessThan(1e-9));
      expect(Math.abs(variance / (TAU2 / (1 - EPS / (4 * TAU2))) - 1)).toBeLessThan(2e-3);

      const got = residualMoments(samples.dataSync() as Float32Array, exactMean);
      // N = 16384 independent scalars; 4 standard errors: √(v/N) for the mean and v√(2/N)
      // for the variance (Gaussian; the uniform start's weight ρ^500 is gone).
      expect(Math.abs(got.mean)).toBeLessThan(4 * Math.sqrt(variance / N));
      expect(Math.abs(got.variance - variance)).toBeLessThan(4 * variance * Math.sqrt(2 / N));
      expect(samples.shape).toEqual([B, D]);
      samples.dispose();
    });

    it('with denoiseLastStep ends at x + σ_L² s*(x, σ_L): variance (s²/τ²)² v ≈ s⁴/(s² + σ_L²)', async () => {
      // x + σ_L² s*(x, σ_L) = μ + (s²/τ²)(x − μ): Tweedie's E[x_clean | x], whose variance is
      // s⁴/τ², less than s² (it is a conditional mean, not a sample of the data).
      const samples = await annealedLangevinDynamics(gaussianScore(mu, S2), xInit, SIGMAS, { ...options, denoiseLastStep: true });
      const k = S2 / TAU2;
      const exactMean = MU.map((m) => m + k * chainMoments(-m).offset);
      const variance = k * k * chainMoments(0).variance;
      expect(Math.abs(variance / (S2 ** 2 / TAU2) - 1)).toBeLessThan(0.016);

      const got = residualMoments(samples.dataSync() as Float32Array, exactMean);
      expect(Math.abs(got.mean)).toBeLessThan(4 * Math.sqrt(variance / N));
      expect(Math.abs(got.variance - variance)).toBeLessThan(4 * variance * Math.sqrt(2 / N));
      samples.dispose();
    });

    it('steps α_i = ε σ_i²/σ_L² at each level in turn, T steps each, with σ_i handed to the model', async () => {
      // With a zero score only the noise acts: the variance grows by T·Σ_i α_i exactly.
      const seen: number[] = [];
      const zero: ScoreModel = (x, sigmas) => {
        seen.push(sigmas.arraySync()[0]!);
        expect(sigmas.shape).toEqual([B]);
        return tf.zerosLike(x);
      };
      const steps = 10;
      const samples = await annealedLangevinDynamics(zero, xInit, SIGMAS, { ...options, stepsPerLevel: steps });
      const expectedSigmas = Array.from(SIGMAS).flatMap((s) => new Array<number>(steps).fill(Math.fround(s)));
      expect(seen).toEqual(expectedSigmas);
      const growth = steps * Array.from(SIGMAS).reduce((sum, s) => sum + EPS * (s / SIGMA_L) ** 2, 0);
      const initial = moments(xInit.dataSync());
      const got = moments(samples.dataSync());
      const variance = initial.variance + growth;
      // Independent increments of total variance `growth` on top of the (measured) start.
      expect(Math.abs(got.mean - initial.mean)).toBeLessThan(4 * Math.sqrt(growth / N));
      expect(Math.abs(got.variance - variance)).toBeLessThan(4 * variance * Math.sqrt(2 / N));
      samples.dispose();
    });

    it('is reproducible with a seed, step k drawing its noise with seed + k', async () => {
      // Zero score, one level (α = ε): x_T = x_0 + √ε Σ_k z_k with z_k = randomNormal(seed + k).
      const x0 = tf.zeros([2, 3]);
      const zero: ScoreModel = (x) => tf.zerosLike(x);
      const run = async (seed: number) => {
        const out = await annealedLangevinDynamics(zero, x0, [1], { seed, stepsPerLevel: 3, stepSize: 0.25 });
        const values = Array.from(out.dataSync());
        out.dispose();
        return values;
      };
      const expected = tf.tidy(() =>
        tf.mul(tf.addN([0, 1, 2].map((k) => tf.randomNormal([2, 3], 0, 1, 'float32', 7 + k))), 0.5),
      );
      const got = await run(7);
      // Same draws summed in another order: float32 rounding only.
      Array.from(expected.dataSync()).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
      expect(await run(7)).toEqual(got);
      expect(await run(8)).not.toEqual(got);
      tf.dispose([x0, expected]);
    });

    it('leaks no tensor, reads nothing back, reports progress, and leaves xInit alive', async () => {
      const reads = ['dataSync', 'data', 'arraySync', 'array', 'bufferSync', 'buffer'].map((m) =>
        vi.spyOn(tf.Tensor.prototype, m as 'dataSync'),
      );
      const progress: Array<[number, number]> = [];
      const before = tf.memory().numTensors;
      const samples = await annealedLangevinDynamics(gaussianScore(mu, S2), xInit, SIGMAS, {
        stepsPerLevel: 3,
        denoiseLastStep: true,
        onProgress: (done, total) => progress.push([done, total]),
      });
      expect(reads.reduce((n, spy) => n + spy.mock.calls.length, 0), 'readbacks').toBe(0);
      expect(tf.memory().numTensors).toBe(before + 1);
      samples.dispose();
      expect(tf.memory().numTensors).toBe(before);
      expect(xInit.isDisposed).toBe(false);
      expect(progress).toEqual(Array.from({ length: 16 }, (_, i) => [i + 1, 16]));
    });

    it('stops when aborted, rejecting with the signal’s reason and leaking nothing', async () => {
      const before = tf.memory().numTensors;
      let calls = 0;
      const counting: ScoreModel = (x, s) => (calls++, gaussianScore(mu, S2)(x, s));
      const controller = new AbortController();
      const aborted = annealedLangevinDynamics(counting, xInit, SIGMAS, {
        stepsPerLevel: 4,
        signal: controller.signal,
        onProgress: (done) => done === 6 && controller.abort(),
      });
      await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
      expect(calls).toBe(6);
      expect(tf.memory().numTensors).toBe(before);
      expect(xInit.isDisposed).toBe(false);

      // Aborted before the denoising step (after the last Langevin step), with a reason.
      const late = new AbortController();
      const reason = new Error('user cancelled');
      const lateRun = annealedLangevinDynamics(counting, xInit, SIGMAS, {
        stepsPerLevel: 2,
        denoiseLastStep: true,
        signal: late.signal,
        onProgress: (done) => done === 10 && late.abort(reason),
      });
      await expect(lateRun).rejects.toBe(reason);
      expect(tf.memory().numTensors).toBe(before);

      calls = 0;
      await expect(annealedLangevinDynamics(counting, xInit, SIGMAS, { signal: AbortSignal.abort() })).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(calls).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('passes on a model’s error and leaks nothing', async () => {
      const before = tf.memory().numTensors;
      let calls = 0;
      const failing: ScoreModel = (x) => {
        if (++calls === 5) throw new Error('model failed');
        return tf.zerosLike(x);
      };
      await expect(annealedLangevinDynamics(failing, xInit, SIGMAS, { stepsPerLevel: 3 })).rejects.toThrow('model failed');
      expect(tf.memory().numTensors).toBe(before);
      const reducing: ScoreModel = (x) => tf.sum(x, 1, true);
      await expect(annealedLangevinDynamics(reducing, xInit, SIGMAS, { stepsPerLevel: 3 })).rejects.toThrow(
        `${FN}: scoreModel output must have shape [${B},${D}] (x's), got shape [${B},1]`,
      );
      expect(tf.memory().numTensors).toBe(before);
      expect(xInit.isDisposed).toBe(false);
    });

    it('refuses bad input before making a tensor, naming the argument', async () => {
      const model = gaussianScore(mu, S2);
      const run = (...args: unknown[]) => () => (annealedLangevinDynamics as (...a: unknown[]) => Promise<unknown>)(...args);
      const xInt = tf.cast(xInit, 'int32');
      const sigmaTensor = tf.tensor1d(Array.from(SIGMAS));
      try {
        await expectRejection(run('model', xInit, SIGMAS), 'scoreModel', 'INVALID_ARGUMENT');
        await expectRejection(run(model, [[0, 1]], SIGMAS), 'xInit', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInt, SIGMAS), 'xInit', 'INVALID_ARGUMENT');
        // Ascending levels (σ_L first) would anneal the wrong way.
        await expectRejection(run(model, xInit, Array.from(SIGMAS).reverse()), 'sigmas', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, [1, 0.5, 0.5]), 'sigmas', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, [1, 0]), 'sigmas', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, sigmaTensor), 'sigmas', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, []), 'sigmas', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, SIGMAS, { stepsPerLevel: 0 }), 'options.stepsPerLevel', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, SIGMAS, { stepsPerLevel: 2.5 }), 'options.stepsPerLevel', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, SIGMAS, { stepSize: 0 }), 'options.stepSize', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, SIGMAS, { stepSize: NaN }), 'options.stepSize', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, SIGMAS, { seed: '3' }), 'options.seed', 'INVALID_ARGUMENT');
        await expectRejection(run(model, xInit, SIGMAS, { onProgress: 1 }), 'options.onProgress', 'INVALID_ARGUMENT');
      } finally {
        tf.dispose([xInt, sigmaTensor]);
      }
    });
  });
}
