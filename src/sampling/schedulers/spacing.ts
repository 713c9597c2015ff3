import { linspace } from '../../schedules/linspace';
import { numpyArange, roundHalfEven } from './float32';

/** diffusers' `timestep_spacing` values. */
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/**
 * N integer inference timesteps out of T training ones, descending, as DDPM / DDIM /
 * LCM-style schedulers space them (Lin et al. 2023, Table 2), with numpy's
 * half-to-even rounding:
 * - `leading`: (N−1−i)·⌊T/N⌋ + stepsOffset;
 * - `trailing`: round(T − i·T/N) − 1 (numpy's arange of T/N steps);
 * - `linspace`: round(linspace(0, T − 1, N)), reversed.
 * @internal
 */
export function spacedTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset: number): number[] {
  if (spacing === 'leading') {
    const ratio = Math.floor(T / N);
    return Array.from({ length: N }, (_, i) => (N - 1 - i) * ratio + stepsOffset);
  }
  if (spacing === 'trailing') return Array.from(numpyArange(T, 0, -T / N), (t) => roundHalfEven(t) - 1);
  return Array.from(linspace(0, T - 1, N), roundHalfEven).reverse();
}
