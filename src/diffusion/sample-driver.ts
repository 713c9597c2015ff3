import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../errors';
import type { StepDriver } from '../step-loop';
import { planDpmSolverSteps } from './dpm-solver-plan';
import type { CondFn, DdimSampleOptions, PSampleOptions } from './options';
import type { DenoisedFn, DiffusionModel, ModelCallOptions, ModelKwargs, PMeanVariance, SampleStep } from './types';

/** What the driver calls on its process: a `GaussianDiffusion`. @internal */
export interface SteppableDiffusion {
  readonly numTimesteps: number;
  readonly alphasCumprod: Float64Array;
  pSample(model: DiffusionModel, x: tf.Tensor, t: number, options: PSampleOptions): SampleStep;
  ddimSample(model: DiffusionModel, x: tf.Tensor, t: number, options: DdimSampleOptions): SampleStep;
  pMeanVariance(model: DiffusionModel, x: tf.Tensor, t: number, options: ModelCallOptions): PMeanVariance;
}

/** How a `GaussianDiffusion` is sampled, step by step from t = T−1 down to 0. */
export type DiffusionSamplingMethod = 'ancestral' | 'ddim' | 'dpm-solver++';

/** The step options of a diffusion driver. @internal */
export interface DiffusionDriverOptions {
  method?: DiffusionSamplingMethod;
  eta?: number;
  clipDenoised?: boolean;
  denoisedFn?: DenoisedFn;
  modelKwargs?: ModelKwargs;
  condFn?: CondFn;
  lowerOrderFinal?: boolean;
}

/**
 * Drives a `GaussianDiffusion` (respaced or not) through the sampling loop: ancestral
 * steps p(x_{t−1}|x_t) (`pSample`), DDIM steps (`ddimSample`, with η), or
 * DPM-Solver++(2M) updates on x̂_0 from `pMeanVariance` (clipping off by default, as
 * for an ODE solver). Options that do not fit the method are refused.
 * @internal
 */
export function diffusionDriver(fn: string, diffusion: SteppableDiffusion, options: DiffusionDriverOptions): StepDriver {
  const method = options.method ?? 'ancestral';
  if (method !== 'ancestral' && method !== 'ddim' && method !== 'dpm-solver++') {
    throw new DifflibError('UNKNOWN_OPTION', fn, 'options.method', `must be 'ancestral', 'ddim' or 'dpm-solver++', got ${describeValue(method)}`);
  }
  const refuse = (name: keyof DiffusionDriverOptions, why: string) => {
    if (options[name] !== undefined) throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, why);
  };
  if (method !== 'ddim') refuse('eta', "is DDIM's η: pass method: 'ddim'");
  if (method !== 'dpm-solver++') refuse('lowerOrderFinal', "is DPM-Solver's: pass method: 'dpm-solver++'");
  if (options.lowerOrderFinal !== undefined && typeof options.lowerOrderFinal !== 'boolean') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.lowerOrderFinal', `must be a boolean, got ${describeValue(options.lowerOrderFinal)}`);
  }
  const { eta, clipDenoised, denoisedFn, modelKwargs, condFn } = options;
  const T = diffusion.numTimesteps;
  const timesteps = Array.from({ length: T }, (_, i) => T - 1 - i);
  if (method === 'dpm-solver++') {
    refuse('condFn', 'is not supported by DPM-Solver++ here (use ancestral or DDIM sampling, or a scheduler)');
    return dpmSolverDriver(fn, diffusion, timesteps, { clipDenoised: clipDenoised ?? false, denoisedFn, modelKwargs, lowerOrderFinal: options.lowerOrderFinal ?? true });
  }
  return {
    timesteps,
    initialSample: (unit) => unit,
    step(model, x, index, seed) {
      const t = timesteps[index]!;
      const common = { clipDenoised, denoisedFn, modelKwargs, condFn, seed };
      return method === 'ddim' ? diffusion.ddimSample(model, x, t, { ...common, eta }) : diffusion.pSample(model, x, t, common);
    },
  };
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022) over the process's steps: x_{i−1} =
 * (σ_{i−1}/σ_i)·x_i + α_{i−1}(1 − e^{−h})·D_i with D_i a second-order blend of this and
 * the previous x̂_0 (see `dpmSolverSample`); the last update lands on x̂_0 itself.
 */
function dpmSolverDriver(
  fn: string,
  diffusion: SteppableDiffusion,
  timesteps: number[],
  options: { clipDenoised: boolean; denoisedFn?: DenoisedFn; modelKwargs?: ModelKwargs; lowerOrderFinal: boolean },
): StepDriver {
  const plan = planDpmSolverSteps(fn, diffusion.alphasCumprod, options.lowerOrderFinal);
  const callOptions = { clipDenoised: options.clipDenoised, denoisedFn: options.denoisedFn, modelKwargs: options.modelKwargs };
  let previous: tf.Tensor | null = null; // x̂_0 of the step before (noisier)
  return {
    timesteps,
    initialSample: (unit) => unit,
    step(model, x, index) {
      const { t, xCoef, dataCoef, previousCoef } = plan[index]!;
      const out = diffusion.pMeanVariance(model, x, t, callOptions);
      tf.dispose([out.mean, out.variance, out.logVariance]);
      const current = out.predXStart;
      if (t === 0) {
        previous?.dispose();
        previous = null;
        return { sample: current, predXStart: tf.clone(current) };
      }
      const next = tf.tidy(() => {
        const update = tf.add(tf.mul(x, xCoef), tf.mul(current, dataCoef));
        return previousCoef === 0 ? update : tf.add(update, tf.mul(previous!, previousCoef));
      });
      previous?.dispose();
      previous = current;
      return { sample: next, predXStart: tf.clone(current) };
    },
    dispose() {
      previous?.dispose();
      previous = null;
    },
  };
}
