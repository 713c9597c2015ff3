import { beforeAll, describe, expect, it } from 'vitest';
import { geometricSigmas } from '../../src/score';
import { useBackend } from '../backends';
import { expectDifflibError } from '../helpers';

// numpy 2.4 `np.geomspace(...)`, printed with repr: NCSN's CIFAR-10 levels (1 → 0.01, L = 10)
// and the head of NCSNv2's (50 → 0.01, L = 232).
const NCSN_CIFAR10 = [
  1.0, 0.599484250318941, 0.35938136638046275, 0.2154434690031884, 0.1291549665014884, 0.0774263682681127,
  0.046415888336127795, 0.02782559402207126, 0.016681005372000592, 0.01,
];
const NCSNV2_CIFAR10_HEAD = [
  50.0, 48.190024508442576, 46.445569242485924, 44.764262402079275, 43.143818045171095, 41.58203297969167,
  40.07678376804419, 38.62602384003206, 37.22778071029665, 35.880153296482426,
];

/** |a − b| ≤ tol·|b| entry by entry. */
function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!), `entry ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tol * Math.abs(expected[i]!));
  }
}

describe('geometricSigmas', () => {
  // No tensors are involved, but expectDifflibError counts them.
  beforeAll(() => useBackend('cpu'));

  // Same linspace as numpy; 10**e may differ from C's pow by an ulp or two (2.2e-16 each).
  const ULPS = 5e-16;

  it('equals numpy.geomspace on NCSN’s and NCSNv2’s CIFAR-10 levels', () => {
    expectRelClose(geometricSigmas(1, 0.01, 10), NCSN_CIFAR10, ULPS);
    const v2 = geometricSigmas(50, 0.01, 232);
    expectRelClose(v2.subarray(0, 10), NCSNV2_CIFAR10_HEAD, ULPS);
    expectRelClose([v2[100]!], [1.2522305308093105], ULPS);
  });

  it('returns a float64 table that starts and ends exactly at sigmaMax and sigmaMin', () => {
    const sigmas = geometricSigmas(50, 0.01, 232);
    expect(sigmas).toBeInstanceOf(Float64Array);
    expect(sigmas.length).toBe(232);
    expect(sigmas[0]).toBe(50);
    expect(sigmas[231]).toBe(0.01);
  });

  it('has the constant ratio σ_{i−1}/σ_i = (σ_1/σ_L)^{1/(L−1)}', () => {
    for (const [max, min, levels] of [[1, 0.01, 10], [50, 0.01, 232], [348, 0.01, 2]] as const) {
      const sigmas = geometricSigmas(max, min, levels);
      const gamma = (max / min) ** (1 / (levels - 1));
      const ratios = Array.from({ length: levels - 1 }, (_, i) => sigmas[i]! / sigmas[i + 1]!);
      // Each σ carries ~1 ulp, the exponent's rounding a few more for L = 232.
      expectRelClose(ratios, new Array<number>(levels - 1).fill(gamma), 1e-13);
    }
  });

  it('refuses levels a user might mistype', () => {
    expectDifflibError(() => geometricSigmas(0.01, 1, 10), 'geometricSigmas', 'sigmaMax', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas(1, 1, 10), 'geometricSigmas', 'sigmaMax', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas(Infinity, 0.01, 10), 'geometricSigmas', 'sigmaMax', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas(1, 0, 10), 'geometricSigmas', 'sigmaMin', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas(1, -0.01, 10), 'geometricSigmas', 'sigmaMin', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas(1, NaN, 10), 'geometricSigmas', 'sigmaMin', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas('1' as never, 0.01, 10), 'geometricSigmas', 'sigmaMax', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas(1, 0.01, 1), 'geometricSigmas', 'numLevels', 'INVALID_ARGUMENT');
    expectDifflibError(() => geometricSigmas(1, 0.01, 2.5), 'geometricSigmas', 'numLevels', 'INVALID_ARGUMENT');
    const err = expectDifflibError(() => geometricSigmas(1, 0.01, 0), 'geometricSigmas', 'numLevels');
    expect(err.message).toBe('geometricSigmas: numLevels must be an integer >= 2, got 0');
  });
});
