import { DifflibError, describeValue } from '../errors';

/**
 * The betas of the process that keeps only `useTimesteps` of a longer one, as
 * improved-diffusion's `SpacedDiffusion` derives them: with ᾱ the original
 * alphas-cumprod and k_0 < k_1 < … the kept steps,
 *
 *   β'_j = 1 − ᾱ_{k_j} / ᾱ_{k_{j−1}},   ᾱ_{k_{−1}} = 1,
 *
 * so the respaced process has the same marginals q(x_t | x_0) at the kept steps.
 *
 * @param alphasCumprod - ᾱ of the original process, length T.
 * @param useTimesteps - steps to keep, each an integer in [0, T); order and repeats do not matter.
 * @returns the new betas and `timestepMap` (original index of each new step), both ascending.
 * @internal
 */
export function respaceBetas(
  fn: string,
  alphasCumprod: Float64Array,
  useTimesteps: Iterable<number>,
): { betas: Float64Array; timestepMap: number[] } {
  const T = alphasCumprod.length;
  const kept = new Set<number>();
  for (const t of useTimesteps) {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= T) {
      throw new DifflibError('OUT_OF_RANGE', fn, 'useTimesteps', `must hold integers in [0, ${T - 1}], got ${describeValue(t)}`);
    }
    kept.add(t);
  }
  if (kept.size === 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'useTimesteps', 'must keep at least one timestep, got none');
  }
  const timestepMap = [...kept].sort((a, b) => a - b);
  const betas = new Float64Array(timestepMap.length);
  let lastAlphaCumprod = 1;
  timestepMap.forEach((t, j) => {
    const alphaCumprod = alphasCumprod[t]!;
    betas[j] = 1 - alphaCumprod / lastAlphaCumprod;
    lastAlphaCumprod = alphaCumprod;
  });
  return { betas, timestepMap };
}

/**
 * ᾱ_t = ∏_{s ≤ t} (1 − β_s), accumulated left to right in float64 as `numpy.cumprod` does.
 * @internal
 */
export function cumprodOneMinus(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - betas[i]!;
    out[i] = acc;
  }
  return out;
}
