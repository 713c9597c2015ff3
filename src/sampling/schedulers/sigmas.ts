import { linspace } from '../../schedules/linspace';
import { f32 } from './float32';

/**
 * Noise levels of the sigma-space (Karras et al. 2022) view of a discrete process,
 * computed as diffusers computes them: float32 tables from torch, float64 in numpy.
 * @internal
 */

/** σ_t = √((1 − ᾱ_t)/ᾱ_t) per training timestep, float32 (torch). */
export function sigmasOfAlphasCumprod(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => Math.sqrt(f32(f32(1 - a) / a)));
}

/** numpy's float32 `np.log` of each σ (SIMD; within an ulp of the correctly rounded log). */
export function logSigmasF32(sigmas: Float32Array): Float32Array {
  return sigmas.map(Math.log);
}

/**
 * Karras et al. (2022) eq. 5: n noise levels from σ_max down to σ_min,
 * σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, in float64 (diffusers'
 * `_convert_to_karras`).
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): Float64Array {
  const ramp = linspace(0, 1, n);
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return ramp.map((r) => (maxInvRho + r * (minInvRho - maxInvRho)) ** rho);
}

/**
 * diffusers' `_sigma_to_t`: the fractional training timestep whose σ is `sigma`, by
 * linear interpolation of log σ between the two neighbouring training σs (`logSigmas`,
 * float32, increasing with t). numpy 1.x casts the float64 log σ down to the float32
 * table's type (value-based casting), so the neighbour search and the weight
 * w = (lo − log σ)/(lo − hi) are float32; only t = (1 − w)·low + w·(low + 1) is float64.
 */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = f32(Math.log(Math.max(sigma, 1e-10)));
  // The last index whose log σ is ≤ log sigma (0 when there is none), at most n − 2.
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma >= logSigmas[i]!) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(Math.max(f32(f32(lo - logSigma) / f32(lo - hi)), 0), 1);
  return f32(1 - w) * low + w * (low + 1);
}
