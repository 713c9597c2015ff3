import type { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { DifflibError, describeValue } from '../errors';
import { refuseOptions, type SampleOptions } from './loop-options';
import type { StepDriver } from './step-driver';

/**
 * Drives a `GaussianDiffusion` (improved-diffusion's process, respaced or not): ancestral
 * steps p(x_{t−1}|x_t) or DDIM steps from t = T−1 down to 0.
 * @internal
 */
export function diffusionDriver(fn: string, diffusion: GaussianDiffusion, opts: SampleOptions): StepDriver {
  refuseOptions(fn, opts, ['numInferenceSteps'], 'is for schedulers; respace a GaussianDiffusion instead (diffusion.respace("50"))');
  refuseOptions(fn, opts, ['stepOptions'], 'is for schedulers; a GaussianDiffusion takes eta, clipDenoised, denoisedFn, condFn');
  const method = opts.method ?? 'ancestral';
  if (method !== 'ancestral' && method !== 'ddim') {
    throw new DifflibError('UNKNOWN_OPTION', fn, 'options.method', `must be 'ancestral' or 'ddim', got ${describeValue(method)}`);
  }
  if (method === 'ancestral') refuseOptions(fn, opts, ['eta'], "is DDIM's: pass method: 'ddim'");
  const { clipDenoised, denoisedFn, modelKwargs, condFn, eta } = opts;
  const T = diffusion.numTimesteps;
  return {
    timesteps: Array.from({ length: T }, (_, i) => T - 1 - i),
    initialSample: (unit) => unit,
    step(model, x, index, seed) {
      const t = T - 1 - index;
      const common = { clipDenoised, denoisedFn, modelKwargs, condFn, seed };
      return method === 'ddim' ? diffusion.ddimSample(model, x, t, { ...common, eta }) : diffusion.pSample(model, x, t, common);
    },
  };
}
