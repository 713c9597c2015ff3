import * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel } from './diffusion/types';
import { warnDeprecated } from './deprecation';
import { DifflibError, describeValue } from './errors';
import { yieldToEventLoop } from './event-loop';
import { standardNormal } from './random-normal';
import { checkFunction, checkSeed, checkTensor, shapeString } from './validate';

/**
 * One step of a sampling loop ({@link sampleProgressive}, `pSampleLoopProgressive`, …).
 * The tensors stay valid until the loop is asked for the next step (it disposes them
 * then); `tf.clone` what you want to keep.
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

/**
 * What the one sampling loop needs of a sampler, whether a diffusers-style scheduler or
 * an improved-diffusion process: the timesteps in loop order, x_T from unit noise, and
 * one step (model call included).
 * @internal
 */
export interface StepDriver {
  /** The timesteps the model is called at, in loop order. */
  readonly timesteps: readonly number[];
  /** x_T from unit noise; may return `unit` itself. */
  initialSample(unit: tf.Tensor): tf.Tensor;
  /** One step from `x` at `timesteps[index]`; `seed` seeds its noise. The result is the caller's. */
  step(model: DiffusionModel, x: tf.Tensor, index: number, seed: number | undefined): { sample: tf.Tensor; predXStart: tf.Tensor | null };
  /** Frees what the driver keeps between steps (multistep history). */
  dispose?(): void;
}

/** The options every sampling loop shares. @internal */
export interface LoopRun {
  /** x_T as unit noise (the caller's; never disposed). */
  initialNoise?: tf.Tensor;
  /** Seeds x_T (as given) and step i's noise (seed + 1 + i). */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Checks what every sampling loop takes, before any tensor exists: the model, the shape,
 * x_T (under the option name `initialNoiseKey`), the seed, callbacks and the signal.
 * @internal
 */
export function checkLoopArguments(
  fn: string,
  model: unknown,
  shape: unknown,
  options: unknown,
  functionKeys: readonly string[],
  initialNoiseKey = 'initialNoise',
): void {
  checkFunction(fn, 'model', model, '(x, t, kwargs?) => tf.Tensor');
  if (!Array.isArray(shape) || shape.length < 2 || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'shape', `must be [B, ...] with positive integer sizes and rank >= 2, got ${describeValue(shape)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an object, got ${describeValue(options)}`);
  }
  const opts = options as Record<string, unknown>;
  const xT = opts[initialNoiseKey];
  if (xT !== undefined) {
    checkTensor(fn, `options.${initialNoiseKey}`, xT);
    const got = (xT as tf.Tensor).shape;
    if (!tf.util.arraysEqual(got, shape)) {
      throw new DifflibError('SHAPE_MISMATCH', fn, `options.${initialNoiseKey}`, `must have shape ${shapeString(shape)}, got ${shapeString(got)}`);
    }
  }
  checkSeed(fn, 'options.seed', opts['seed']);
  for (const name of ['onProgress', ...functionKeys]) {
    if (opts[name] !== undefined) checkFunction(fn, `options.${name}`, opts[name], '');
  }
  const signal = opts['signal'] as AbortSignal | undefined;
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.throwIfAborted === 'function')) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.signal', `must be an AbortSignal, got ${describeValue(signal)}`);
  }
}

/**
 * The sampling loop itself, over validated arguments: x = initialSample(x_T), then one
 * `driver.step` per timestep, yielding each. It reads nothing back, yields to the event
 * loop between steps, stops on the signal, and frees everything it made (the driver's
 * history included) however it ends. The caller's x_T is never disposed.
 * @internal
 */
export async function* runSteps(driver: StepDriver, model: DiffusionModel, shape: readonly number[], run: LoopRun): AsyncGenerator<SamplingStep, void, undefined> {
  const { seed, signal, onProgress, initialNoise } = run;
  const total = driver.timesteps.length;
  let x: tf.Tensor | null = null;
  let predXStart: tf.Tensor | null = null;
  const free = (t: tf.Tensor | null) => {
    if (t !== null && t !== initialNoise) t.dispose();
  };
  try {
    signal?.throwIfAborted();
    const unit = initialNoise ?? standardNormal(shape, seed);
    x = driver.initialSample(unit);
    if (unit !== x) free(unit);
    for (let index = 0; index < total; index++) {
      signal?.throwIfAborted();
      const out = driver.step(model, x, index, seed === undefined ? undefined : seed + 1 + index);
      free(x);
      predXStart?.dispose();
      x = out.sample;
      predXStart = out.predXStart;
      onProgress?.(index + 1, total);
      yield { index, total, t: driver.timesteps[index]!, sample: x, predXStart };
      await yieldToEventLoop();
    }
  } finally {
    free(x);
    predXStart?.dispose();
    driver.dispose?.();
  }
}

/**
 * Which option holds x_T: `initialNoise`, or the deprecated `noise` (which elsewhere
 * means a step's ε). Refuses both at once.
 * @internal
 */
export function initialNoiseOption(fn: string, options: { initialNoise?: unknown; noise?: unknown }): 'initialNoise' | 'noise' {
  if (options === null || typeof options !== 'object' || options.noise === undefined) return 'initialNoise';
  if (options.initialNoise !== undefined) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.noise', 'is the deprecated name of options.initialNoise (x_T); give only initialNoise');
  }
  warnDeprecated(`${fn}.noise`, `${fn}'s options.noise (x_T) is now options.initialNoise`);
  return 'noise';
}

/** Runs a loop to the end and returns its last sample (the caller owns it). @internal */
export async function finalSample(steps: AsyncGenerator<SamplingStep, void, undefined>): Promise<tf.Tensor> {
  let last: tf.Tensor | null = null;
  for await (const step of steps) if (step.index === step.total - 1) last = tf.clone(step.sample);
  return last!;
}
