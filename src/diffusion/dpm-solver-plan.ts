import { DifflibError } from '../errors';

/**
 * One update of the plan: after evaluating x̂_0 at step `t`,
 * x_next = `xCoef`·x_t + `dataCoef`·x̂_0(t) + `previousCoef`·x̂_0(previous step).
 * @internal
 */
export interface SolverStep {
  t: number;
  xCoef: number;
  dataCoef: number;
  previousCoef: number;
}

/**
 * The float64 coefficients of every update, from step N−1 down to 0 (see
 * `dpmSolverSample`): DPM-Solver++(2M) (Lu et al. 2022) on the process's ᾱ, first
 * order at the first update (and into step 0 with `lowerOrderFinal`); the final entry
 * (t = 0) is the jump to x̂_0.
 * @internal
 */
export function planDpmSolverSteps(fn: string, alphasCumprod: Float64Array, lowerOrderFinal: boolean): SolverStep[] {
  const n = alphasCumprod.length;
  for (let i = 0; i < n - 1; i++) {
    if (!(alphasCumprod[i]! > 0)) {
      throw new DifflibError(
        'UNSATISFIABLE',
        fn,
        'diffusion',
        `must have ᾱ > 0 at every step but the last (the ODE is undefined between two steps of zero signal), got ᾱ = ${alphasCumprod[i]} at step ${i}`,
      );
    }
  }
  const alpha = (i: number): number => (i < 0 ? 1 : Math.sqrt(alphasCumprod[i]!));
  const sigma = (i: number): number => (i < 0 ? 0 : Math.sqrt(1 - alphasCumprod[i]!));
  // λ = log α − log σ; ±∞ at ᾱ = 1 (the target of the last update) and ᾱ = 0.
  const lambda = (i: number): number => Math.log(alpha(i)) - Math.log(sigma(i));
  const plan: SolverStep[] = [];
  let previousH = NaN;
  for (let i = n - 1; i >= 1; i--) {
    const h = lambda(i - 1) - lambda(i);
    const xCoef = sigma(i - 1) / sigma(i);
    // α_{i−1}(1 − e^{−h}), with expm1 for small h.
    const dataCoef = -alpha(i - 1) * Math.expm1(-h);
    const firstOrder = i === n - 1 || (lowerOrderFinal && i === 1);
    if (firstOrder) {
      plan.push({ t: i, xCoef, dataCoef, previousCoef: 0 });
    } else {
      // 1/(2r) with r = h_previous/h; 0 after a first step of infinite h (ᾱ_{N−1} = 0).
      const halfOverR = h / (2 * previousH);
      plan.push({ t: i, xCoef, dataCoef: dataCoef * (1 + halfOverR), previousCoef: -dataCoef * halfOverR });
    }
    previousH = h;
  }
  // σ = 0, α = 1: x = x̂_0(x_0, 0).
  plan.push({ t: 0, xCoef: 0, dataCoef: 1, previousCoef: 0 });
  return plan;
}

