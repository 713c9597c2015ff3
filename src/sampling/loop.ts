import * as tf from '@tensorflow/tfjs-core';
import { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import type { DiffusionModel } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { yieldToEventLoop } from '../event-loop';
import { classifierFreeGuidance } from '../guidance/classifier-free';
import { standardNormal } from '../random-normal';
import { diffusionDriver } from './diffusion-driver';
import { checkLoopArguments, type SampleOptions, type SamplingStep } from './loop-options';
import { schedulerDriver } from './scheduler-driver';
import { SchedulerBase, type Scheduler } from './schedulers/scheduler';
import type { StepDriver } from './step-driver';

/** What the loop samples with: a diffusers-style {@link Scheduler} or improved-diffusion's process. */
export type Sampler = Scheduler | GaussianDiffusion;

/**
 * Validates every argument (before any tensor is made), prepares the sampler (a
 * scheduler's `setTimesteps`), and returns the lazy loop.
 */
function prepare(fn: string, sampler: unknown, model: unknown, shape: unknown, options: unknown): AsyncGenerator<SamplingStep, void, undefined> {
  const opts = checkLoopArguments(fn, model, shape, options);
  let driver: StepDriver;
  if (sampler instanceof GaussianDiffusion) driver = diffusionDriver(fn, sampler, opts);
  else if (sampler instanceof SchedulerBase) driver = schedulerDriver(fn, sampler, opts);
  else {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'sampler', `must be a Scheduler (e.g. new EulerDiscreteScheduler()) or a GaussianDiffusion, got ${describeValue(sampler)}`);
  }
  const guided = opts.guidance === undefined ? (model as DiffusionModel) : classifierFreeGuidance(model as DiffusionModel, opts.guidance);
  return run(driver, guided, shape as number[], opts);
}

async function* run(driver: StepDriver, model: DiffusionModel, shape: number[], opts: SampleOptions): AsyncGenerator<SamplingStep, void, undefined> {
  const { seed, signal, onProgress, initialNoise } = opts;
  const total = driver.timesteps.length;
  let x: tf.Tensor | null = null;
  let predXStart: tf.Tensor | null = null;
  const owned = (t: tf.Tensor | null) => t !== null && t !== initialNoise;
  try {
    signal?.throwIfAborted();
    const unit = initialNoise ?? standardNormal(shape, seed);
    x = driver.initialSample(unit);
    if (unit !== x && unit !== initialNoise) unit.dispose();
    for (let index = 0; index < total; index++) {
      signal?.throwIfAborted();
      const out = driver.step(model, x, index, seed === undefined ? undefined : seed + 1 + index);
      if (owned(x)) x.dispose();
      predXStart?.dispose();
      x = out.sample;
      predXStart = out.predXStart;
      onProgress?.(index + 1, total);
      yield { index, total, t: driver.timesteps[index]!, sample: x, predXStart };
      await yieldToEventLoop();
    }
  } finally {
    if (owned(x)) x!.dispose();
    predXStart?.dispose();
  }
}

/**
 * The sampling loop, one step at a time: an async iterator of `{ index, t, sample,
 * predXStart }` from the first step to the last, for any {@link Sampler}:
 *
 * - a scheduler: `setTimesteps(numInferenceSteps)`, x = x_T·initNoiseSigma, then per
 *   t of its timesteps: `scaleModelInput` → model → `step` (diffusers' pipeline loop);
 * - a `GaussianDiffusion`: x = x_T, then t = T−1 … 0: `pSample` (or `ddimSample`).
 *
 * Options are the same for both where they make sense (seed, x_T, guidance, progress,
 * abort); one that does not apply is refused. No step reads a tensor back, and nothing
 * leaks, also when the loop is aborted or its consumer stops early. Yielded tensors stay
 * valid until the next step is asked for.
 *
 * @param sampler - a {@link Scheduler} or a {@link GaussianDiffusion}.
 * @param model - (x [B, …], t [B], kwargs) → the model output the sampler expects.
 * @param shape - [B, …] of the samples.
 * @param options - see {@link SampleOptions}.
 * @returns the steps; the last one's `sample` is x_0.
 *
 * @example
 * ```ts
 * const scheduler = new DDIMScheduler();
 * for await (const { index, sample, predXStart } of sampleProgressive(scheduler, unet.forward, [4, 32, 32, 3],
 *   { numInferenceSteps: 20, seed: 0 })) {
 *   if (index % 5 === 0) draw(await predXStart!.data());
 * }
 * ```
 */
export function sampleProgressive(sampler: Sampler, model: DiffusionModel, shape: readonly number[], options: SampleOptions = {}): AsyncGenerator<SamplingStep, void, undefined> {
  return prepare('sampleProgressive', sampler, model, shape, options);
}

/**
 * Runs the sampling loop of {@link sampleProgressive} to the end and returns x_0 (the
 * caller owns it).
 *
 * @param sampler - a {@link Scheduler} or a {@link GaussianDiffusion}.
 * @param model - (x [B, …], t [B], kwargs) → the model output the sampler expects.
 * @param shape - [B, …] of the samples.
 * @param options - see {@link SampleOptions}.
 * @returns x_0, of `shape`.
 *
 * @example
 * ```ts
 * const scheduler = schedulerFromConfig(JSON.parse(configJson)); // e.g. a diffusers scheduler_config.json
 * const images = await sample(scheduler, unet.forward, [4, 32, 32, 3], {
 *   numInferenceSteps: 25, seed: 1, modelKwargs: { y }, guidance: { guidanceScale: 3, nullLabel: 10 },
 * });
 * ```
 */
export async function sample(sampler: Sampler, model: DiffusionModel, shape: readonly number[], options: SampleOptions = {}): Promise<tf.Tensor> {
  let last: tf.Tensor | null = null;
  for await (const step of prepare('sample', sampler, model, shape, options)) {
    if (step.index === step.total - 1) last = tf.clone(step.sample);
  }
  return last!;
}
