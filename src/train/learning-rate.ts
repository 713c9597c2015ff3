import { DifflibError, describeValue } from '../errors';

/** The learning-rate schedule of a {@link Trainer}. */
export interface LearningRateSchedule {
  /** η, the peak learning rate. */
  lr: number;
  /** Linear warmup over this many steps; 0 for none. */
  warmupSteps: number;
  /** improved-diffusion's `lr_anneal_steps`: decay linearly to 0 at this step; 0 for none. */
  lrAnnealSteps: number;
}

/**
 * η at step s (0-based): η·min(1, (s+1)/W)·(1 − s/A), the first factor for a linear
 * warmup over W = `warmupSteps` steps (1 when W = 0), the second improved-diffusion's
 * linear annealing to zero at A = `lrAnnealSteps` (1 when A = 0; never negative).
 * The first step already moves (η/W), unlike schedules that start at exactly 0.
 *
 * @param step - s, the index of the step about to be taken.
 * @param schedule - η, W and A.
 * @returns the learning rate, float64.
 *
 * @example
 * ```ts
 * const schedule = { lr: 1e-4, warmupSteps: 1000, lrAnnealSteps: 10000 };
 * learningRateAt(0, schedule);    // 1e-7: η/W
 * learningRateAt(5000, schedule); // 5e-5: warmed up, halfway down the anneal
 * optimizer.applyGradients(grads, learningRateAt(step, schedule)); // an AdamW
 * ```
 */
export function learningRateAt(step: number, schedule: LearningRateSchedule): number {
  if (!Number.isInteger(step) || step < 0) {
    throw new DifflibError('INVALID_ARGUMENT', 'learningRateAt', 'step', `must be a non-negative integer, got ${describeValue(step)}`);
  }
  const { lr, warmupSteps, lrAnnealSteps } = schedule;
  const warmup = warmupSteps > 0 ? Math.min(1, (step + 1) / warmupSteps) : 1;
  const anneal = lrAnnealSteps > 0 ? Math.max(0, 1 - step / lrAnnealSteps) : 1;
  return lr * warmup * anneal;
}
