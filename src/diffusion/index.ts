export { GaussianDiffusion } from './gaussian-diffusion';
export type {
  CalcBpdLoopOptions,
  CondFn,
  DdimReverseSampleOptions,
  DdimSampleOptions,
  GaussianDiffusionConfig,
  GaussianDiffusionOptions,
  PSampleOptions,
  QSampleOptions,
  TrainingLossesOptions,
} from './options';
export type { DiffusionTables } from './coefficients';
export type { TimestepsInput } from './timesteps';
export * from './types';
export type { DdimSampleLoopOptions, SampleLoopOptions, SampleLoopStep } from './sample-loop-options';
export type { DiffusionSamplingMethod } from './sample-driver';
