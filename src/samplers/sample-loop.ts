import * as tf from '@tensorflow/tfjs-core';
import type { GaussianDiffusion, PSampleOptions } from '../diffusion/gaussian-diffusion';
import type { DiffusionModel, SampleStep } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { checkTensor } from '../tensor-checks';
import { standardNormal } from '../random-normal';
import { yieldToEventLoop } from '../event-loop';

/** Options of the sampling loops ({@link GaussianDiffusion.pSampleLoop} and friends). */
export interface SampleLoopOptions extends Omit<PSampleOptions, 'noise'> {
  /** x_T to start from, of `shape` (the caller keeps ownership); drawn from N(0, I) (with `seed`) when absent. */
  noise?: tf.Tensor;
  /** Seeds x_T and every step's noise, so a run is reproducible on a backend. */
  seed?: number;
  /** Called after each step with (steps done, total steps). */
  onProgress?: (done: number, total: number) => void;
  /** Stops the loop between steps; it then rejects with the signal's reason and leaks nothing. */
  signal?: AbortSignal;
}

/** Options of the DDIM loops. */
export interface DdimSampleLoopOptions extends SampleLoopOptions {
  /** η: 0 for deterministic DDIM, 1 for DDPM-like noise. Default 0. */
  eta?: number;
}

/**
 * One step of a progressive loop. The tensors stay valid until the loop is asked for
 * the next step (the loop disposes them then); `tf.clone` what you want to keep.
 */
export interface SampleLoopStep extends SampleStep {
  /** The step just taken, from T−1 down to 0 (indices of this, possibly respaced, process). */
  t: number;
}

type StepFn = (x: tf.Tensor, t: number, seed: number | undefined) => SampleStep;

/**
 * Validates the loop arguments (synchronously, before any tensor is made) and returns
 * the lazy generator of steps x_T → x_0.
 * @internal
 */
export function sampleLoopProgressive(
  fn: string,
  diffusion: GaussianDiffusion,
  model: DiffusionModel,
  shape: readonly number[],
  options: SampleLoopOptions,
  step: StepFn,
): AsyncGenerator<SampleLoopStep, void, undefined> {
  if (typeof model !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'model', `must be a function (x, t, kwargs?) => tf.Tensor, got ${describeValue(model)}`);
  }
  if (!Array.isArray(shape) || shape.length < 2 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'shape', `must be [B, ...] with positive integer sizes and rank >= 2, got ${describeValue(shape)}`);
  }
  if (options.noise !== undefined) {
    checkTensor(fn, 'options.noise', options.noise);
    if (!tf.util.arraysEqual(options.noise.shape, shape as number[])) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 'options.noise', `must have shape [${shape.join(',')}], got [${options.noise.shape.join(',')}]`);
    }
  }
  for (const name of ['onProgress', 'denoisedFn', 'condFn'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, `must be a function, got ${describeValue(options[name])}`);
    }
  }
  return run(diffusion.numTimesteps, shape, options, step);
}

async function* run(
  numTimesteps: number,
  shape: readonly number[],
  options: SampleLoopOptions,
  step: StepFn,
): AsyncGenerator<SampleLoopStep, void, undefined> {
  const { seed, signal, onProgress } = options;
  let x = options.noise ?? standardNormal(shape, seed);
  let previous: SampleStep | null = null;
  try {
    for (let t = numTimesteps - 1; t >= 0; t--) {
      signal?.throwIfAborted();
      const out = step(x, t, seed === undefined ? undefined : seed + numTimesteps - t);
      if (previous) tf.dispose(previous.predXStart);
      if (x !== options.noise) x.dispose();
      x = out.sample;
      previous = out;
      onProgress?.(numTimesteps - t, numTimesteps);
      yield { t, sample: out.sample, predXStart: out.predXStart };
      await yieldToEventLoop();
    }
  } finally {
    if (previous) tf.dispose(previous.predXStart);
    if (x !== options.noise) x.dispose();
  }
}

/**
 * Runs a progressive loop to the end and returns the final sample (the caller owns it).
 * @internal
 */
export async function sampleLoop(steps: AsyncGenerator<SampleLoopStep, void, undefined>): Promise<tf.Tensor> {
  let last: tf.Tensor | null = null;
  for await (const { t, sample } of steps) {
    if (t === 0) last = tf.clone(sample);
  }
  return last!;
}



