import type * as tf from '@tensorflow/tfjs-core';
import { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { diffusionDriver } from '../diffusion/sample-driver';
import type { DenoisedFn, DiffusionModel, ModelKwargs } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { checkLoopArguments, finalSample, initialNoiseOption, runSteps } from '../step-loop';

/** Options of {@link dpmSolverSample}. */
export interface DpmSolverSampleOptions {
  /** x_T ~ N(0, I) to start from, of shape `shape` (the caller owns it); drawn (with `seed`) when absent. */
  initialNoise?: tf.Tensor;
  /** @deprecated x_T: use `initialNoise`. */
  noise?: tf.Tensor;
  /** Seed for the draw of x_T when no `noise` is given. */
  seed?: number;
  /** Passed as the model's third argument (class labels, for example). */
  modelKwargs?: ModelKwargs;
  /** Clip every x̂_0 to [−1, 1]. Default false (the solver integrates an ODE; clipping bends it). */
  clipDenoised?: boolean;
  /** Transforms every x̂_0 before clipping (e.g. dynamic thresholding). */
  denoisedFn?: DenoisedFn;
  /**
   * Take the update into step 0 at first order (diffusers' `lower_order_final`). A
   * respaced grid usually ends at t = 0, where λ jumps (the final λ-step of a
   * 20-step cosine grid is ~4× the one before it) and the second-order extrapolation
   * overshoots; one first-order step keeps the global order at two. Default true.
   */
  lowerOrderFinal?: boolean;
  /** Called after each of the N model evaluations with (evaluations done, N). */
  onProgress?: (done: number, total: number) => void;
  /** Aborts between steps: the promise rejects with `signal.reason` and nothing leaks. */
  signal?: AbortSignal;
}

/**
 * Samples with DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for
 * Guided Sampling of Diffusion Probabilistic Models", Algorithm 2): the multistep
 * second-order solver of the probability-flow ODE in its data-prediction form, as
 * diffusers' `DPMSolverMultistepScheduler` runs it (`algorithm_type='dpmsolver++'`,
 * `solver_type='midpoint'`, `lower_order_final`, `final_sigmas_type='zero'`). It
 * needs far fewer steps than DDIM for the same accuracy (15–20 in the paper).
 *
 * It walks the steps of `diffusion` from the last, N−1, down to 0, one model call
 * each. Respace it first: `diffusion.respace('20')` spaces 20 steps evenly over
 * [0, T−1], starting where x_T ~ N(0, I) fits best (`'ddim20'` starts at T − T/20,
 * where ᾱ may still be far from 0). With α_i = √ᾱ_i,
 * σ_i = √(1 − ᾱ_i), λ_i = log(α_i/σ_i), h = λ_{i−1} − λ_i and x̂_0 the model's data
 * prediction (from {@link GaussianDiffusion.pMeanVariance}, whatever the mean type):
 *
 *   x_{i−1} = (σ_{i−1}/σ_i)·x_i + α_{i−1}(1 − e^{−h})·D_i,
 *   D_i = (1 + 1/(2r))·x̂_0(x_i, i) − 1/(2r)·x̂_0(x_{i+1}, i+1),   r = h_{i+1}/h,
 *
 * where h_{i+1} = λ_i − λ_{i+1} is the previous step's h. The first update has no
 * history and takes D_i = x̂_0(x_i, i): first order, exactly a deterministic DDIM
 * step; so does the update into step 0 unless `lowerOrderFinal` is false. The last
 * update goes from step 0 to ᾱ = 1 (σ = 0), where the first-order step is
 * x̂_0(x_0, 0) itself: the sample returned is the data prediction at step 0, as in
 * diffusers with `final_sigmas_type='zero'` and in improved-diffusion's DDIM loop.
 * So N steps cost N model calls, and with N ≤ 3 (all updates first order, given
 * `lowerOrderFinal`) the result is DDIM's. Coefficients are formed in float64 and only then applied to float32
 * tensors. To end on x̂_0 at a noisier step, as diffusers' default `linspace`
 * spacing does (its last model call is at t ≈ T/N), leave 0 out of `useTimesteps`.
 *
 * A schedule ending at zero terminal SNR (ᾱ_{N−1} = 0) is fine: the first step then
 * has h = ∞ and lands on σ_{N−2}·x_T + α_{N−2}·x̂_0 (pair it with an x_0-predicting model).
 *
 * It is the one sampling loop ({@link sample} with `method: 'dpm-solver++'`) under
 * its own option names. Bad arguments throw a {@link DifflibError} synchronously,
 * before any tensor is made. The loop then reads nothing back from the device and
 * yields to the event loop between steps; an aborted `signal` rejects the promise with
 * its reason (an `AbortError` DOMException by default) after freeing every tensor made.
 *
 * @param diffusion - the (usually respaced) process whose steps are walked.
 * @param model - the network, called with the original timesteps of each step.
 * @param shape - the sample's shape, [B, …, C].
 * @returns the sample x̂_0, of `shape` (float32; the caller owns it).
 *
 * @example
 * ```ts
 * const fast = diffusion.respace('20'); // 20 steps from T−1 to 0
 * const images = await dpmSolverSample(fast, model, [4, 32, 32, 3], { seed: 1 });
 * ```
 */
export function dpmSolverSample(
  diffusion: GaussianDiffusion,
  model: DiffusionModel,
  shape: readonly number[],
  options: DpmSolverSampleOptions = {},
): Promise<tf.Tensor> {
  const fn = 'dpmSolverSample';
  const initialNoiseKey = initialNoiseOption(fn, options);
  checkArguments(fn, diffusion, model, shape, options, initialNoiseKey);
  const { seed, modelKwargs, clipDenoised, denoisedFn, lowerOrderFinal, onProgress, signal } = options;
  const driver = diffusionDriver(fn, diffusion, { method: 'dpm-solver++', modelKwargs, clipDenoised, denoisedFn, lowerOrderFinal });
  return finalSample(runSteps(driver, model, shape, { initialNoise: options[initialNoiseKey], seed, onProgress, signal }));
}

function checkArguments(
  fn: string,
  diffusion: unknown,
  model: unknown,
  shape: unknown,
  options: DpmSolverSampleOptions,
  initialNoiseKey: 'initialNoise' | 'noise',
): void {
  if (!(diffusion instanceof GaussianDiffusion)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'diffusion', `must be a GaussianDiffusion, got ${describeValue(diffusion)}`);
  }
  checkLoopArguments(fn, model, shape, options, ['denoisedFn'], initialNoiseKey);
  const { modelKwargs, clipDenoised, lowerOrderFinal } = options;
  if (modelKwargs !== undefined && (modelKwargs === null || typeof modelKwargs !== 'object')) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.modelKwargs', `must be an object, got ${describeValue(modelKwargs)}`);
  }
  for (const [name, value] of [['clipDenoised', clipDenoised], ['lowerOrderFinal', lowerOrderFinal]] as const) {
    if (value !== undefined && typeof value !== 'boolean') {
      throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, `must be a boolean, got ${describeValue(value)}`);
    }
  }
}
