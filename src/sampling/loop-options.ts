import * as tf from '@tensorflow/tfjs-core';
import type { CondFn } from '../diffusion/gaussian-diffusion';
import type { DenoisedFn, ModelKwargs } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import type { ClassifierFreeGuidanceOptions } from '../guidance/classifier-free';
import { checkTensor, shapeString } from '../tensor-checks';
import type { SchedulerStepOptions } from './schedulers/scheduler';

/** Options of {@link sample} and {@link sampleProgressive}, for a scheduler and a `GaussianDiffusion` alike. */
export interface SampleOptions {
  /** x_T as unit noise, of `shape` (the caller keeps it); a scheduler multiplies it by `initNoiseSigma`. Drawn with `seed` when absent. */
  initialNoise?: tf.Tensor;
  /** Seeds x_T and every step's noise (step i uses seed + 1 + i), so a run is reproducible on a backend. */
  seed?: number;
  /** The number of steps: a scheduler's `setTimesteps(n)` (required unless it already has timesteps); not for a `GaussianDiffusion` (respace it). */
  numInferenceSteps?: number;
  /** `GaussianDiffusion` only: `'ancestral'` (p(x_{t−1}|x_t), default) or `'ddim'`. */
  method?: 'ancestral' | 'ddim';
  /** DDIM's η: `GaussianDiffusion` with method `'ddim'`, or a scheduler that takes it (`DDIMScheduler`). */
  eta?: number;
  /** `GaussianDiffusion` only: clip x̂_0 to [−1, 1] (default true). Schedulers clip as their config says. */
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

/**
 * One step of {@link sampleProgressive}. The tensors stay valid until the loop is asked
 * for the next step (it disposes them then); `tf.clone` what you want to keep.
 */
export interface SamplingStep {
  /** The step's position in the loop, 0 first. */
  index: number;
  /** How many steps the loop takes. */
  total: number;
  /** The timestep the model was called at (a scheduler's `timesteps[index]`, or the process's t). */
  t: number;
  /** The sample after this step. */
  sample: tf.Tensor;
  /** x̂_0 of this step, where the sampler forms one (else null). */
  predXStart: tf.Tensor | null;
}

const FUNCTION_OPTIONS = ['onProgress', 'condFn', 'denoisedFn'] as const;

/** Checks what every sampler shares, before any tensor exists. @internal */
export function checkLoopArguments(fn: string, model: unknown, shape: unknown, options: unknown): SampleOptions {
  if (typeof model !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'model', `must be a function (x, t, kwargs?) => tf.Tensor, got ${describeValue(model)}`);
  }
  if (!Array.isArray(shape) || shape.length < 2 || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'shape', `must be [B, ...] with positive integer sizes and rank >= 2, got ${describeValue(shape)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an object, got ${describeValue(options)}`);
  }
  const opts = options as SampleOptions;
  if (opts.initialNoise !== undefined) {
    checkTensor(fn, 'options.initialNoise', opts.initialNoise);
    if (!tf.util.arraysEqual(opts.initialNoise.shape, shape)) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 'options.initialNoise', `must have shape ${shapeString(shape)}, got ${shapeString(opts.initialNoise.shape)}`);
    }
  }
  if (opts.seed !== undefined && (typeof opts.seed !== 'number' || !Number.isFinite(opts.seed))) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.seed', `must be a finite number, got ${describeValue(opts.seed)}`);
  }
  for (const name of FUNCTION_OPTIONS) {
    if (opts[name] !== undefined && typeof opts[name] !== 'function') {
      throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, `must be a function, got ${describeValue(opts[name])}`);
    }
  }
  if (opts.signal !== undefined && !(typeof opts.signal === 'object' && opts.signal !== null && typeof opts.signal.throwIfAborted === 'function')) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.signal', `must be an AbortSignal, got ${describeValue(opts.signal)}`);
  }
  return opts;
}

/** Refuses options that do not apply to the sampler at hand. @internal */
export function refuseOptions(fn: string, opts: SampleOptions, names: ReadonlyArray<keyof SampleOptions>, why: string): void {
  for (const name of names) {
    if (opts[name] !== undefined) throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, why);
  }
}
