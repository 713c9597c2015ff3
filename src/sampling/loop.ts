import type * as tf from '@tensorflow/tfjs-core';
import { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { diffusionDriver } from '../diffusion/sample-driver';
import type { DiffusionModel } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { classifierFreeGuidance } from '../guidance/classifier-free';
import { checkLoopArguments, finalSample, runSteps, type SamplingStep, type StepDriver } from '../step-loop';
import { refuseOptions, type SampleOptions } from './loop-options';
import { schedulerDriver } from './scheduler-driver';
import { SchedulerBase, type Scheduler } from './schedulers/scheduler';

/** What the loop samples with: a diffusers-style {@link Scheduler} or improved-diffusion's process. */
export type Sampler = Scheduler | GaussianDiffusion;

/**
 * Validates every argument (before any tensor is made), prepares the sampler (a
 * scheduler's `setTimesteps`), and returns the lazy loop.
 */
function prepare(fn: string, sampler: unknown, model: unknown, shape: unknown, options: unknown): AsyncGenerator<SamplingStep, void, undefined> {
  checkLoopArguments(fn, model, shape, options, ['condFn', 'denoisedFn']);
  const opts = options as SampleOptions;
  let driver: StepDriver;
  if (sampler instanceof GaussianDiffusion) {
    refuseOptions(fn, opts, ['numInferenceSteps'], 'is for schedulers; respace a GaussianDiffusion instead (diffusion.respace("50"))');
    refuseOptions(fn, opts, ['stepOptions'], 'is for schedulers; a GaussianDiffusion takes method, eta, clipDenoised, denoisedFn, condFn');
    const { method, eta, clipDenoised, denoisedFn, modelKwargs, condFn, lowerOrderFinal } = opts;
    driver = diffusionDriver(fn, sampler, { method, eta, clipDenoised, denoisedFn, modelKwargs, condFn, lowerOrderFinal });
  } else if (sampler instanceof SchedulerBase) driver = schedulerDriver(fn, sampler, opts);
  else {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'sampler', `must be a Scheduler (e.g. new EulerDiscreteScheduler()) or a GaussianDiffusion, got ${describeValue(sampler)}`);
  }
  const guided = opts.guidance === undefined ? (model as DiffusionModel) : classifierFreeGuidance(model as DiffusionModel, opts.guidance);
  const { initialNoise, seed, onProgress, signal } = opts;
  return runSteps(driver, guided, shape as number[], { initialNoise, seed, onProgress, signal });
}

/**
 * The sampling loop, one step at a time: an async iterator of `{ index, total, t,
 * sample, predXStart }` from the first step to the last, for any {@link Sampler}:
 *
 * - a scheduler: `setTimesteps(numInferenceSteps)`, x = x_T·initNoiseSigma, then per
 *   t of its timesteps: `scaleModelInput` → model → `step` (diffusers' pipeline loop);
 * - a `GaussianDiffusion`: x = x_T, then t = T−1 … 0: `pSample`, `ddimSample`, or a
 *   DPM-Solver++(2M) update (`method`).
 *
 * Options are the same for both where they make sense (seed, x_T, guidance, progress,
 * abort); one that does not apply is refused. No step reads a tensor back, and nothing
 * leaks, also when the loop is aborted or its consumer stops early. Yielded tensors stay
 * valid until the next step is asked for. `GaussianDiffusion.pSampleLoop`,
 * `ddimSampleLoop` and `dpmSolverSample` run this same loop.
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
export function sample(sampler: Sampler, model: DiffusionModel, shape: readonly number[], options: SampleOptions = {}): Promise<tf.Tensor> {
  return finalSample(prepare('sample', sampler, model, shape, options));
}
