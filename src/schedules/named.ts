import { DifflibError, describeValue } from '../errors';
import { betasForAlphaBar, cosineAlphaBar } from './alpha-bar';
import { linspace } from './linspace';
import { checkNumTimesteps } from './validate';

/**
 * The schedules {@link namedBetaSchedule} knows, in order: `linear`, `cosine`,
 * `scaled_linear`, `sigmoid` (each a {@link BetaScheduleName}).
 *
 * @example
 * ```ts
 * BETA_SCHEDULE_NAMES.includes('cosine'); // true
 * const schedules = BETA_SCHEDULE_NAMES.map((name) => NoiseSchedule.named(name, 1000));
 * ```
 */
export const BETA_SCHEDULE_NAMES = ['linear', 'cosine', 'scaled_linear', 'sigmoid'] as const;

/** Name of a predefined beta schedule. */
export type BetaScheduleName = (typeof BETA_SCHEDULE_NAMES)[number];

/** End points for the `scaled_linear` and `sigmoid` schedules (ignored by `linear` and `cosine`). */
export interface BetaRangeOptions {
  /** β at the first step. Defaults: 0.00085 for `scaled_linear` (Stable Diffusion), 1e-4 for `sigmoid`. */
  betaStart?: number;
  /** β at the last step. Defaults: 0.012 for `scaled_linear`, 0.02 for `sigmoid`. */
  betaEnd?: number;
}

/**
 * A predefined beta schedule β_0 … β_{T−1}, in float64.
 *
 * - `linear`: Ho et al.'s schedule scaled to any T, as improved-diffusion does:
 *   β_i = linspace(s·1e-4, s·0.02, T)_i with s = 1000/T. (For T < 20 some β exceed 1;
 *   the schedule is returned as is and {@link GaussianDiffusion} refuses it.)
 * - `cosine`: Improved DDPM's ᾱ(t) = cos²(((t + 0.008)/1.008)·π/2) through
 *   {@link betasForAlphaBar} with max β 0.999.
 * - `scaled_linear`: β_i = linspace(√βstart, √βend, T)_i², Stable Diffusion's schedule.
 * - `sigmoid`: β_i = σ(linspace(−6, 6, T)_i)·(βend − βstart) + βstart (diffusers, GeoDiff).
 *
 * @param name - which schedule.
 * @param numTimesteps - T.
 * @param options - end points for `scaled_linear` and `sigmoid`.
 * @returns Float64Array of T betas.
 *
 * @example
 * ```ts
 * const betas = namedBetaSchedule('cosine', 4000);
 * const diffusion = new GaussianDiffusion({ betas, modelMeanType: 'epsilon',
 *   modelVarType: 'learned_range', lossType: 'rescaled_mse' });
 * ```
 */
export function namedBetaSchedule(
  name: BetaScheduleName,
  numTimesteps: number,
  options: BetaRangeOptions = {},
): Float64Array {
  const fn = 'namedBetaSchedule';
  if (!(BETA_SCHEDULE_NAMES as readonly unknown[]).includes(name)) {
    throw new DifflibError(
      'UNKNOWN_OPTION',
      fn,
      'name',
      `must be one of ${BETA_SCHEDULE_NAMES.map((n) => `'${n}'`).join(', ')}, got ${describeValue(name)}`,
    );
  }
  checkNumTimesteps(fn, 'numTimesteps', numTimesteps);
  switch (name) {
    case 'linear': {
      const scale = 1000 / numTimesteps;
      return linspace(scale * 0.0001, scale * 0.02, numTimesteps);
    }
    case 'cosine':
      return betasForAlphaBar(numTimesteps, cosineAlphaBar);
    case 'scaled_linear': {
      const [start, end] = betaRange(fn, options, 0.00085, 0.012);
      return linspace(Math.sqrt(start), Math.sqrt(end), numTimesteps).map((b) => b * b);
    }
    case 'sigmoid': {
      const [start, end] = betaRange(fn, options, 0.0001, 0.02);
      return linspace(-6, 6, numTimesteps).map((x) => (1 / (1 + Math.exp(-x))) * (end - start) + start);
    }
  }
}

function betaRange(fn: string, options: BetaRangeOptions, start: number, end: number): [number, number] {
  const betaStart = options.betaStart ?? start;
  const betaEnd = options.betaEnd ?? end;
  for (const [arg, v] of [['options.betaStart', betaStart], ['options.betaEnd', betaEnd]] as const) {
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must lie in (0, 1], got ${describeValue(v)}`);
    }
  }
  if (betaEnd < betaStart) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.betaEnd', `must be >= betaStart (${betaStart}), got ${betaEnd}`);
  }
  return [betaStart, betaEnd];
}
