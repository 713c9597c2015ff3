import { cumprodOneMinus } from '../schedules/respace';

/**
 * Every per-timestep table of the process, in float64, computed once from β with
 * the same operations (and order) as improved-diffusion's `GaussianDiffusion.__init__`.
 * Notation: α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s, ᾱ_{−1} = 1, ᾱ_T = 0.
 */
export interface DiffusionTables {
  /** β_t. */
  readonly betas: Float64Array;
  /** ᾱ_t. */
  readonly alphasCumprod: Float64Array;
  /** ᾱ_{t−1} (1 at t = 0). */
  readonly alphasCumprodPrev: Float64Array;
  /** ᾱ_{t+1} (0 at the last step). */
  readonly alphasCumprodNext: Float64Array;
  /** √ᾱ_t. */
  readonly sqrtAlphasCumprod: Float64Array;
  /** √(1 − ᾱ_t). */
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** log(1 − ᾱ_t). */
  readonly logOneMinusAlphasCumprod: Float64Array;
  /** √(1/ᾱ_t). */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  /** √(1/ᾱ_t − 1). */
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), the variance of q(x_{t−1} | x_t, x_0). */
  readonly posteriorVariance: Float64Array;
  /** log β̃_t with β̃_0 (= 0) replaced by β̃_1. */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** β_t √ᾱ_{t−1} / (1 − ᾱ_t): weight of x_0 in the posterior mean μ̃_t. */
  readonly posteriorMeanCoef1: Float64Array;
  /** (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t): weight of x_t in μ̃_t. */
  readonly posteriorMeanCoef2: Float64Array;
  /** log β_t: the upper end of the learned-range interpolation. */
  readonly logBetas: Float64Array;
  /** The `fixed_large` variance: β_t, with β̃_1 at t = 0 for a better decoder likelihood. */
  readonly fixedLargeVariance: Float64Array;
  /** log of {@link fixedLargeVariance}. */
  readonly fixedLargeLogVariance: Float64Array;
  /** 1 / posteriorMeanCoef1: x_0 from a predicted x_{t−1}. */
  readonly recipPosteriorMeanCoef1: Float64Array;
  /** posteriorMeanCoef2 / posteriorMeanCoef1. */
  readonly posteriorMeanCoef2OverCoef1: Float64Array;
  /** √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) · √(1 − ᾱ_t/ᾱ_{t−1}): the DDIM σ_t at η = 1. */
  readonly ddimSigmaAtEtaOne: Float64Array;
}

const map = (a: Float64Array, f: (v: number, i: number) => number): Float64Array => a.map(f);

/**
 * Derives {@link DiffusionTables} from validated betas (finite, in (0, 1], length ≥ 2).
 * @internal
 */
export function computeTables(betas: Float64Array): DiffusionTables {
  const T = betas.length;
  const alphas = map(betas, (b) => 1 - b);
  const alphasCumprod = cumprodOneMinus(betas);
  const alphasCumprodPrev = map(alphasCumprod, (_, i) => (i === 0 ? 1 : alphasCumprod[i - 1]!));
  const alphasCumprodNext = map(alphasCumprod, (_, i) => (i === T - 1 ? 0 : alphasCumprod[i + 1]!));
  const oneMinusAc = map(alphasCumprod, (a) => 1 - a);
  const posteriorVariance = map(betas, (b, i) => (b * (1 - alphasCumprodPrev[i]!)) / oneMinusAc[i]!);
  // β̃_0 = 0, so its log is clipped to log β̃_1 (the reference's choice).
  const posteriorLogVarianceClipped = map(posteriorVariance, (v, i) => Math.log(i === 0 ? posteriorVariance[1]! : v));
  const posteriorMeanCoef1 = map(betas, (b, i) => (b * Math.sqrt(alphasCumprodPrev[i]!)) / oneMinusAc[i]!);
  const posteriorMeanCoef2 = map(alphas, (a, i) => ((1 - alphasCumprodPrev[i]!) * Math.sqrt(a)) / oneMinusAc[i]!);
  const fixedLargeVariance = map(betas, (b, i) => (i === 0 ? posteriorVariance[1]! : b));
  return {
    betas,
    alphasCumprod,
    alphasCumprodPrev,
    alphasCumprodNext,
    sqrtAlphasCumprod: map(alphasCumprod, Math.sqrt),
    sqrtOneMinusAlphasCumprod: map(oneMinusAc, Math.sqrt),
    logOneMinusAlphasCumprod: map(oneMinusAc, Math.log),
    sqrtRecipAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped,
    posteriorMeanCoef1,
    posteriorMeanCoef2,
    logBetas: map(betas, Math.log),
    fixedLargeVariance,
    fixedLargeLogVariance: map(fixedLargeVariance, Math.log),
    recipPosteriorMeanCoef1: map(posteriorMeanCoef1, (c) => 1 / c),
    posteriorMeanCoef2OverCoef1: map(posteriorMeanCoef2, (c, i) => c / posteriorMeanCoef1[i]!),
    ddimSigmaAtEtaOne: map(alphasCumprod, (a, i) => {
      const prev = alphasCumprodPrev[i]!;
      return Math.sqrt((1 - prev) / (1 - a)) * Math.sqrt(1 - a / prev);
    }),
  };
}
