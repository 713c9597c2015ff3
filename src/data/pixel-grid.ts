/**
 * The 8-bit grid of data in [−1, 1]: level k ∈ {0, …, 255} sits at x = k/127.5 − 1,
 * so neighbours are 2/255 apart and the bin of x is [x − 1/255, x + 1/255] — the bins
 * the discretised Gaussian decoder L_0 integrates over (Ho et al. 2020, eq. 13). Data
 * off this grid makes L_0, and so bits/dim, meaningless.
 * @internal
 */
export const MAX_LEVEL = 255;

/** x = k/127.5 − 1 for level k (0 ↦ −1, 255 ↦ 1). @internal */
export function levelToSigned(k: number): number {
  return k / 127.5 - 1;
}
