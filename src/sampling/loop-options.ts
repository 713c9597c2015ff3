import type * as tf from '@tensorflow/tfjs-core';
import type { CondFn } from '../diffusion/options';
import type { DiffusionSamplingMethod } from '../diffusion/sample-driver';
import type { DenoisedFn, ModelKwargs } from '../diffusion/types';
import { DifflibError } from '../errors';
import type { ClassifierFreeGuidanceOptions } from '../guidance/classifier-free';
import type { SchedulerStepOptions } from './schedulers/scheduler';

/** Options of {@link sample} and {@link sampleProgressive}, for a scheduler and a `GaussianDiffusion` alike. */
export interface SampleOptions {
  /** x_T as unit noise, of `shape` (the caller keeps it); a scheduler multiplies it by `initNoiseSigma`. Drawn with `seed` when absent. */
  initialNoise?: tf.Tensor;
  /** Seeds x_T and every step's noise (step i uses seed + 1 + i), so a run is reproducible on a backend. */
  seed?: number;
  /** The number of steps: a scheduler's `setTimesteps(n)` (required unless it already has timesteps); not for a `GaussianDiffusion` (respace it). */
  numInferenceSteps?: number;
  /** `GaussianDiffusion` only: `'ancestral'` (p(x_{t−1}|x_t), default), `'ddim'` or `'dpm-solver++'` (2M). */
  method?: DiffusionSamplingMethod;
  /** `GaussianDiffusion` with `'dpm-solver++'`: the update into step 0 at first order (default true). */
  lowerOrderFinal?: boolean;
  /** DDIM's η: `GaussianDiffusion` with method `'ddim'`, or a scheduler that takes it (`DDIMScheduler`). */
  eta?: number;
  /** `GaussianDiffusion` only: clip x̂_0 to [−1, 1] (default true; false for `'dpm-solver++'`). Schedulers clip as their config says. */
  clipDenoised?: boolean;
  /** `GaussianDiffusion` only: transforms x̂_0 before clipping. */
  denoisedFn?: DenoisedFn;
  /** The model's third argument, every step (e.g. `{ y }` labels). */
  modelKwargs?: ModelKwargs;
  /** Classifier-free guidance: the model is wrapped by {@link classifierFreeGuidance} with these options. */
  guidance?: ClassifierFreeGuidanceOptions;
  /**
   * Classifier guidance, ∇ log p(y|x_t) scaled: the mean is shifted (guided-diffusion's
   * `condition_mean`) for a `GaussianDiffusion`; for a scheduler with ε-prediction and
   * integer timesteps, ε̂ ← ε̂ − √(1−ᾱ_t)·∇ (`condition_score`). Refused where that math
   * does not apply.
   */
  condFn?: CondFn;
  /** Further step options of a scheduler (e.g. Euler's `sChurn`); `noise` and `seed` are the loop's. */
  stepOptions?: Omit<SchedulerStepOptions, 'noise' | 'seed'>;
  /** Called after each step with (steps done, total steps). */
  onProgress?: (done: number, total: number) => void;
  /** Stops the loop between steps: it then rejects with the signal's reason and leaks nothing. */
  signal?: AbortSignal;
}

/** Refuses options that do not apply to the sampler at hand. @internal */
export function refuseOptions(fn: string, opts: SampleOptions, names: ReadonlyArray<keyof SampleOptions>, why: string): void {
  for (const name of names) {
    if (opts[name] !== undefined) throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, why);
  }
}
