import type { NoiseLevel } from './dpm-solver-common';
import { f32 } from './float32';
import { torchLinalgSolveF32 } from './torch-linalg-solve';

/** UniPC's B(h): `bh1` B(h) = h, `bh2` B(h) = e^h − 1 (h in the solver's sign). */
export type UniPCSolverType = 'bh1' | 'bh2';

/**
 * The host scalars of one UniPC update (Zhao et al. 2023) from noise level s0 to t, in
 * diffusers' float32 arithmetic. With h = λ_t − λ_s0, ĥ = −h for data prediction (x̂_0)
 * and +h for noise prediction (ε̂), and the converted model outputs m0 (at s0) and m_k
 * (at the earlier levels s_k), the update is
 *
 * x_t = a·x − c·m0 − e·Σ_k ρ_k D_k,   D_k = (m_k − m0)/r_k,   r_k = (λ_sk − λ_s0)/h,
 *
 * a = σ_t/σ_s0, c = α_t(e^ĥ − 1), e = α_t·B(ĥ) for x̂_0 (α_t/α_s0, σ_t(e^ĥ − 1),
 * σ_t·B(ĥ) for ε̂). The corrector (UniC) adds the new output m_t as one more difference,
 * D = m_t − m0 with r = 1, weighted by the last ρ.
 * @internal
 */
export interface UniPCUpdate {
  /** a, the weight of the sample. */
  sampleCoef: number;
  /** c, the weight of m0. */
  m0Coef: number;
  /** e, the weight of the residual Σ ρ_k D_k. */
  residualCoef: number;
  /** r_k, k = 1 … p − 1 (the step ratios of the earlier outputs). */
  rks: number[];
  /**
   * ρ: the predictor's p − 1 weights (none at p = 1; ½ at p = 2; the solve of the
   * leading (p−1)×(p−1) block of R at p = 3), or the corrector's p (½ at p = 1, the
   * solve of R from p = 2); null when that system is singular (torch raises).
   */
  rhos: number[] | null;
}

/**
 * diffusers' `multistep_uni_p_bh_update` (`predictor`) and `multistep_uni_c_bh_update`
 * (`corrector`) coefficients: r_k; the order-p system R ρ = b with R_ij = r_j^i
 * (r_p = 1) and b_i = i!·hφ_{i+1}(ĥ)/B(ĥ), where hφ_1 = e^ĥ − 1, hφ_2 = hφ_1/ĥ − 1 and
 * each next hφ = previous/ĥ − 1/i!; solved as torch.linalg.solve does
 * ({@link torchLinalgSolveF32}: R is contiguous, the predictor's block a slice).
 * Transcendentals are correctly rounded (torch's SLEEF may be an ulp off).
 *
 * @param kind - the predictor (UniP) or the corrector (UniC).
 * @param t - the level the update goes to.
 * @param s0 - the level of m0 (the newest output the update uses).
 * @param earlier - the levels of m_1 … m_{p−1}, newest first.
 * @param predictX0 - data prediction (x̂_0, ĥ = −h) or noise prediction (ε̂, ĥ = h).
 * @param solverType - B(h).
 * @internal
 */
export function uniPCUpdate(
  kind: 'predictor' | 'corrector',
  t: NoiseLevel,
  s0: NoiseLevel,
  earlier: readonly NoiseLevel[],
  predictX0: boolean,
  solverType: UniPCSolverType,
): UniPCUpdate {
  const order = earlier.length + 1;
  const h = f32(t.lambda - s0.lambda);
  const rks = earlier.map((s) => f32(f32(s.lambda - s0.lambda) / h));
  const hh = predictX0 ? -h : h;
  const hPhi1 = f32(Math.expm1(hh));
  const bh = solverType === 'bh1' ? hh : hPhi1;
  const r = [...rks, 1];
  const R: number[][] = [];
  const b: number[] = [];
  let hPhiK = f32(f32(hPhi1 / hh) - 1);
  let factorial = 1;
  for (let i = 1; i <= order; i++) {
    R.push(r.map((v) => (i === 1 ? 1 : i === 2 ? v : f32(v * v)))); // torch.pow(rks, i − 1), i ≤ 3
    b.push(f32(f32(hPhiK * factorial) / bh));
    factorial *= i + 1;
    hPhiK = f32(f32(hPhiK / hh) - f32(1 / factorial));
  }
  let rhos: number[] | null;
  if (kind === 'predictor') {
    const block = R.slice(0, -1).map((row) => row.slice(0, -1));
    rhos = order === 1 ? [] : order === 2 ? [0.5] : torchLinalgSolveF32(block, b.slice(0, -1), false);
  } else {
    rhos = order === 1 ? [0.5] : torchLinalgSolveF32(R, b, true);
  }
  const weight = predictX0 ? t.alpha : t.sigma;
  return {
    sampleCoef: predictX0 ? f32(t.sigma / s0.sigma) : f32(t.alpha / s0.alpha),
    m0Coef: f32(weight * hPhi1),
    residualCoef: f32(weight * bh),
    rks,
    rhos,
  };
}
