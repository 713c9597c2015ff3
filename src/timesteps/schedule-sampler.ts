import * as tf from '@tensorflow/tfjs-core';
import { checkNumTimesteps } from '../schedules/validate';
import { seededUniform } from '../random';
import { checkInteger, checkSeed } from '../validate';
import type { TimestepSample, TimestepSampleOptions, TimestepSampler } from './timestep-sampler';

/**
 * A distribution over the T timesteps of a process, to reduce the variance of the
 * training objective (improved-diffusion's `ScheduleSampler`). Subclasses give the
 * unnormalised weights w [T]; sampling and importance weights are shared:
 *
 *   p(t) = w_t / Σ_s w_s,   importance weight 1 / (T·p(t)),
 *
 * so E_{t∼p}[L_t / (T·p(t))] = (1/T) Σ_t L_t, the uniform average, whatever w is.
 *
 * @example
 * ```ts
 * const sampler: ScheduleSampler = new UniformSampler(diffusion.numTimesteps); // or a LossSecondMomentResampler
 * const { timesteps, weights } = sampler.sample(64, { seed: 0 }); // each [64]
 * const loss = tf.mean(tf.mul(diffusion.trainingLosses(model, x0, timesteps).loss, weights));
 * ```
 */
export abstract class ScheduleSampler implements TimestepSampler {
  /** T. */
  readonly numTimesteps: number;

  /**
   * @param numTimesteps - T of the process.
   * @param className - the subclass's name, for error messages.
   */
  protected constructor(numTimesteps: number, className: string) {
    this.numTimesteps = checkNumTimesteps(className, 'numTimesteps', numTimesteps);
  }

  /** Unnormalised, positive weight of each timestep, float64 [T]. */
  abstract weights(): Float64Array;

  /**
   * Draws `batchSize` timesteps with p(t) = w_t / Σw, and importance weights 1/(T·p(t)).
   *
   * @param batchSize - B.
   * @returns timesteps [B] int32, weights [B] float32, and the indices on the host.
   */
  sample(batchSize: number, options: TimestepSampleOptions = {}): TimestepSample {
    const fn = `${this.constructor.name}.sample`;
    checkInteger(fn, 'batchSize', batchSize, { min: 1 });
    const seed = checkSeed(fn, 'options.seed', options.seed);
    const random = options.random ?? seededUniform(seed ?? Math.floor(Math.random() * 2 ** 32));
    const w = this.weights();
    const total = w.reduce((a, b) => a + b, 0);
    const cdf = new Float64Array(w.length);
    w.reduce((acc, wi, i) => (cdf[i] = acc + wi / total), 0);
    const indices = new Int32Array(batchSize);
    const importance = new Float32Array(batchSize);
    for (let b = 0; b < batchSize; b++) {
      const u = random();
      let i = 0;
      while (i < cdf.length - 1 && u >= cdf[i]!) i++;
      indices[b] = i;
      importance[b] = 1 / (w.length * (w[i]! / total));
    }
    return {
      timesteps: tf.tensor1d(indices, 'int32'),
      weights: tf.tensor1d(importance, 'float32'),
      indices,
    };
  }
}
