import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import { checkInteger, checkSeed, checkTensor } from '../validate';
import { checkSigmas } from './noise-levels';
import { evaluateScore, type ScoreModel } from './score-model';
import { standardNormal } from '../random-normal';
import { yieldToEventLoop } from '../event-loop';

/** Options of {@link annealedLangevinDynamics}. */
export interface AnnealedLangevinOptions {
  /** T, Langevin steps at each noise level. Default 100 (NCSN). */
  stepsPerLevel?: number;
  /** ε, the step size at the smallest level; level i uses α_i = ε σ_i²/σ_L². Default 2e-5 (NCSN). */
  stepSize?: number;
  /**
   * Seed for the noise: step k (counted from 0 over all levels) draws z with seed + k,
   * so a seeded run is reproducible on a backend. Fresh noise when absent.
   */
  seed?: number;
  /**
   * Finish with one denoising step x ← x + σ_L² s_θ(x, σ_L), Tweedie's estimate of
   * E[x_clean | x] under N(0, σ_L² I) noise, which Song & Ermon 2020 add to remove the
   * noise of the last level. Default false, as in Algorithm 1.
   */
  denoiseLastStep?: boolean;
  /** Called after every step with (steps done, total steps); the denoising step counts as one. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Stops the run: the promise rejects with the signal's reason (an `AbortError`
   * DOMException by default) before the next step, and nothing is leaked.
   */
  signal?: AbortSignal;
}

/**
 * Annealed Langevin dynamics, Algorithm 1 of Song & Ermon 2019: for each level
 * σ_1 > … > σ_L, with α_i = ε · σ_i²/σ_L², run T steps of
 *
 *   x ← x + (α_i / 2) · s_θ(x, σ_i) + √α_i · z,   z ~ N(0, I),
 *
 * each level starting where the previous one ended. With `denoiseLastStep`, finish with
 * x + σ_L² s_θ(x, σ_L) (Song & Ermon 2020).
 *
 * Step sizes are float64 until they scale a tensor. No value is read back from the
 * device; the loop yields to the event loop after each level so a page
 * stays responsive. Intermediate states are disposed as the loop goes, also when it is
 * aborted or the model throws.
 *
 * @param scoreModel - s_θ(x, σ); gets x [B, …] and σ_i as a float32 Tensor1D [B].
 * @param xInit - the starting point x̃_0, float32 [B, …] (NCSN: uniform noise). The
 *   caller owns it; it is never disposed.
 * @param sigmas - σ_1 > … > σ_L, finite and > 0 (e.g. {@link geometricSigmas}).
 * @param options - T, ε, seed, the denoising step, progress and abort.
 * @returns a promise of the samples, xInit's shape, owned by the caller.
 *
 * @example
 * ```ts
 * const sigmas = geometricSigmas(1, 0.01, 10);
 * const x0 = tf.randomUniform([16, 32, 32, 3], 0, 1, 'float32', 0);
 * const samples = await annealedLangevinDynamics(model, x0, sigmas, { seed: 1, denoiseLastStep: true });
 * ```
 */
export async function annealedLangevinDynamics<X extends tf.Tensor>(
  scoreModel: ScoreModel<X>,
  xInit: X,
  sigmas: ArrayLike<number>,
  options: AnnealedLangevinOptions = {},
): Promise<X> {
  const fn = 'annealedLangevinDynamics';
  if (typeof scoreModel !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'scoreModel', `must be a function (x, sigmas) => score, got ${describeValue(scoreModel)}`);
  }
  checkTensor(fn, 'xInit', xInit, { minRank: 1 });
  const table = checkSigmas(fn, sigmas, { decreasing: true });
  const { stepsPerLevel = 100, stepSize = 2e-5, seed, denoiseLastStep = false, onProgress, signal } = options ?? {};
  checkInteger(fn, 'options.stepsPerLevel', stepsPerLevel, { min: 1 });
  if (typeof stepSize !== 'number' || !Number.isFinite(stepSize) || !(stepSize > 0)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.stepSize', `must be a finite number > 0, got ${describeValue(stepSize)}`);
  }
  checkSeed(fn, 'options.seed', seed);
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.onProgress', `must be a function, got ${describeValue(onProgress)}`);
  }
  signal?.throwIfAborted();

  const batchSize = xInit.shape[0]!;
  const numLevels = table.length;
  const sigmaL = table[numLevels - 1]!;
  const total = numLevels * stepsPerLevel + (denoiseLastStep ? 1 : 0);
  let x = xInit;
  let done = 0;
  const advance = (next: X): void => {
    if (x !== xInit) x.dispose();
    x = next;
    done++;
    onProgress?.(done, total);
  };
  try {
    for (const sigma of table) {
      const alpha = stepSize * (sigma / sigmaL) ** 2;
      const sigmaBatch = tf.fill([batchSize], sigma, 'float32') as tf.Tensor1D;
      try {
        for (let t = 0; t < stepsPerLevel; t++) {
          signal?.throwIfAborted();
          const stepSeed = seed === undefined ? undefined : seed + done;
          advance(
            tf.tidy(() => {
              const score = evaluateScore(fn, scoreModel, x, sigmaBatch);
              const z = standardNormal(x.shape, stepSeed);
              return tf.add(tf.add(x, tf.mul(score, alpha / 2)), tf.mul(z, Math.sqrt(alpha))) as X;
            }),
          );
        }
      } finally {
        sigmaBatch.dispose();
      }
      await yieldToEventLoop();
    }
    signal?.throwIfAborted();
    if (denoiseLastStep) {
      advance(
        tf.tidy(() => {
          const sigmaBatch = tf.fill([batchSize], sigmaL, 'float32') as tf.Tensor1D;
          return tf.add(x, tf.mul(evaluateScore(fn, scoreModel, x, sigmaBatch), sigmaL ** 2)) as X;
        }),
      );
    }
    return x;
  } catch (e) {
    if (x !== xInit) x.dispose();
    throw e;
  }
}
