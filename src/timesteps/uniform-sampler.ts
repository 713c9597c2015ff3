import { ScheduleSampler } from './schedule-sampler';

/**
 * Every timestep equally likely; all importance weights are 1.
 *
 * @example
 * ```ts
 * const { indices, weights } = new UniformSampler(1000).sample(16, { seed: 0 });
 * ```
 */
export class UniformSampler extends ScheduleSampler {
  /** @param numTimesteps - T of the process. */
  constructor(numTimesteps: number) {
    super(numTimesteps, 'UniformSampler');
  }

  /** All ones, float64 [T]. */
  weights(): Float64Array {
    return new Float64Array(this.numTimesteps).fill(1);
  }
}
