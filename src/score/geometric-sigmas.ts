import { DifflibError, describeValue } from '../errors';
import { checkInteger } from '../validate';
import { linspace } from '../schedules/linspace';

/**
 * The noise levels of NCSN: a geometric sequence σ_1 > σ_2 > … > σ_L with a constant
 * ratio σ_{i−1}/σ_i = (σ_1/σ_L)^{1/(L−1)} (Song & Ermon 2019, §4.2; 2020, Technique 2).
 * Computed as `numpy.geomspace(sigmaMax, sigmaMin, numLevels)`, the way NCSNv2 builds
 * its table: 10^linspace(log10 σ_1, log10 σ_L), with both ends set exactly.
 *
 * @param sigmaMax - σ_1, the largest level (Technique 1: about the largest pairwise
 *   distance between training points). Finite, > sigmaMin.
 * @param sigmaMin - σ_L, the smallest level. Finite, > 0.
 * @param numLevels - L, an integer ≥ 2.
 * @returns float64 [L], decreasing, with `[0] === sigmaMax` and `[L−1] === sigmaMin`.
 *
 * @example
 * ```ts
 * const sigmas = geometricSigmas(1, 0.01, 10); // NCSN's CIFAR-10 levels: 1, 0.599, …, 0.01
 * ```
 */
export function geometricSigmas(sigmaMax: number, sigmaMin: number, numLevels: number): Float64Array {
  const fn = 'geometricSigmas';
  if (typeof sigmaMin !== 'number' || !Number.isFinite(sigmaMin) || !(sigmaMin > 0)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'sigmaMin', `must be a finite number > 0, got ${describeValue(sigmaMin)}`);
  }
  if (typeof sigmaMax !== 'number' || !Number.isFinite(sigmaMax) || !(sigmaMax > sigmaMin)) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'sigmaMax',
      `must be a finite number > sigmaMin (${sigmaMin}), got ${describeValue(sigmaMax)}`,
    );
  }
  checkInteger(fn, 'numLevels', numLevels, { min: 2 });
  const sigmas = linspace(Math.log10(sigmaMax), Math.log10(sigmaMin), numLevels).map((e) => 10 ** e);
  sigmas[0] = sigmaMax;
  sigmas[numLevels - 1] = sigmaMin;
  return sigmas;
}
