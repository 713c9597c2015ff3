import * as tf from '@tensorflow/tfjs-core';
import type { CondFn } from '../diffusion/options';
import type { ModelKwargs } from '../diffusion/types';
import { DifflibError } from '../errors';
import { refuseOptions, type SampleOptions } from './loop-options';
import type { Scheduler } from './schedulers/scheduler';
import type { StepDriver } from '../step-loop';

/**
 * Drives a diffusers-style scheduler through the loop of its SCHEMA: x_T·initNoiseSigma,
 * then per t: scaleModelInput → model → step. The model gets t as an int32 [B] tensor
 * where every timestep is an integer, else float32.
 * @internal
 */
export function schedulerDriver(fn: string, scheduler: Scheduler, opts: SampleOptions): StepDriver {
  refuseOptions(fn, opts, ['method', 'clipDenoised', 'denoisedFn', 'lowerOrderFinal'], "is a GaussianDiffusion option; a scheduler clips as its config says (clip_sample, thresholding)");
  if (opts.numInferenceSteps !== undefined) scheduler.setTimesteps(opts.numInferenceSteps);
  else if (scheduler.timesteps.length === 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.numInferenceSteps', 'is required: the scheduler has no timesteps yet (or call its setTimesteps first)');
  }
  const timesteps = Array.from(scheduler.timesteps);
  const integer = timesteps.every(Number.isInteger);
  const guide = opts.condFn === undefined ? null : scoreGuidance(fn, scheduler, opts.condFn, integer);
  const stepOptions = { ...opts.stepOptions, ...(opts.eta === undefined ? {} : { eta: opts.eta }) };
  const kwargs = opts.modelKwargs;
  return {
    timesteps,
    initialSample: (unit) => (scheduler.initNoiseSigma === 1 ? unit : tf.mul(unit, scheduler.initNoiseSigma)),
    step(model, x, index, seed) {
      const t = timesteps[index]!;
      const [sample, predXStart] = tf.tidy(() => {
        const input = scheduler.scaleModelInput(x, t);
        const tBatch = tf.fill([x.shape[0]!], t, integer ? 'int32' : 'float32') as tf.Tensor1D;
        let output = model(input, tBatch, kwargs);
        if (guide) output = guide(output, input, tBatch, t, kwargs);
        const result = scheduler.step(output, t, x, { ...stepOptions, ...(seed === undefined ? {} : { seed }) });
        return result.predOriginalSample ? [result.prevSample, result.predOriginalSample] : [result.prevSample];
      });
      return { sample: sample!, predXStart: predXStart ?? null };
    },
  };
}

/**
 * Classifier guidance on ε (guided-diffusion's `condition_score`): ε̂ ← ε̂ − √(1−ᾱ_t)·∇,
 * ∇ = condFn(x_t, t) at the VP-scaled model input. Needs ε-prediction and ᾱ_t at each
 * timestep, i.e. a scheduler with `alphasCumprod` and integer timesteps.
 */
function scoreGuidance(fn: string, scheduler: Scheduler, condFn: CondFn, integer: boolean) {
  const alphasCumprod = (scheduler as { alphasCumprod?: Float32Array }).alphasCumprod;
  if (scheduler.config['prediction_type'] !== 'epsilon' || alphasCumprod === undefined || !integer) {
    throw new DifflibError(
      'UNSATISFIABLE',
      fn,
      'options.condFn',
      'needs a scheduler with prediction_type "epsilon", ᾱ_t tables (alphasCumprod) and integer timesteps, ' +
        `to shift ε̂ by √(1−ᾱ_t)·∇log p(y|x_t); ${(scheduler.toConfig()['_class_name'] as string) ?? 'this scheduler'} with this config has not`,
    );
  }
  return (output: tf.Tensor, input: tf.Tensor, tBatch: tf.Tensor1D, t: number, kwargs: ModelKwargs | undefined): tf.Tensor => {
    const gradient = condFn(input, tBatch, kwargs);
    const scale = Math.sqrt(1 - alphasCumprod[t]!);
    const channels = input.shape[input.rank - 1]!;
    if (output.shape[output.rank - 1] === channels) return tf.sub(output, tf.mul(gradient, scale));
    const [eps, rest] = tf.split(output, [channels, output.shape[output.rank - 1]! - channels], -1) as [tf.Tensor, tf.Tensor];
    return tf.concat([tf.sub(eps, tf.mul(gradient, scale)), rest], -1);
  };
}
