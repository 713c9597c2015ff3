import { DifflibError, describeValue } from '../errors';
import { checkNumTimesteps } from './validate';

/**
 * Discretises a continuous ᾱ(t), t ∈ [0, 1], into `numTimesteps` betas:
 *
 *   β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), maxBeta),  i = 0 … T−1
 *
 * (Nichol & Dhariwal 2021, eq. 17; improved-diffusion's `betas_for_alpha_bar`).
 *
 * @param numTimesteps - T, the number of betas to produce.
 * @param alphaBar - ᾱ(t): the cumulative product of (1 − β) up to time t ∈ [0, 1].
 * @param maxBeta - upper clip that keeps the last steps away from a singularity; 0.999 as in the paper.
 * @returns Float64Array of length T.
 *
 * @example
 * ```ts
 * const betas = betasForAlphaBar(1000, (t) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2);
 * ```
 */
export function betasForAlphaBar(
  numTimesteps: number,
  alphaBar: (t: number) => number,
  maxBeta = 0.999,
): Float64Array {
  const fn = 'betasForAlphaBar';
  checkNumTimesteps(fn, 'numTimesteps', numTimesteps);
  if (typeof alphaBar !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'alphaBar', `must be a function of t in [0, 1], got ${describeValue(alphaBar)}`);
  }
  if (typeof maxBeta !== 'number' || !(maxBeta > 0 && maxBeta <= 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'maxBeta', `must lie in (0, 1], got ${describeValue(maxBeta)}`);
  }
  const betas = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) {
    const t1 = i / numTimesteps;
    const t2 = (i + 1) / numTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/**
 * The cosine ᾱ(t) of Improved DDPM (eq. 17): ᾱ(t) = cos²(((t + s) / (1 + s)) · π/2), s = 0.008.
 * The offset s keeps β_t from being too small near t = 0.
 *
 * @param t - time in [0, 1] (t = step/T).
 * @returns ᾱ(t), decreasing from ≈ 0.99984 at t = 0 to ≈ 0 (3.7e-33) at t = 1.
 *
 * @example
 * ```ts
 * cosineAlphaBar(0.5);                                  // ≈ 0.4938
 * const betas = betasForAlphaBar(4000, cosineAlphaBar); // namedBetaSchedule('cosine', 4000)
 * ```
 */
export function cosineAlphaBar(t: number): number {
  return Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
}
