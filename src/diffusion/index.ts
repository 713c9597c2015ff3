export {
  GaussianDiffusion,
  type CalcBpdLoopOptions,
  type CondFn,
  type DdimReverseSampleOptions,
  type DdimSampleOptions,
  type GaussianDiffusionOptions,
  type PSampleOptions,
  type QSampleOptions,
  type TrainingLossesOptions,
} from './gaussian-diffusion';
export type { DiffusionTables } from './coefficients';
export type { TimestepsInput } from './timesteps';
export * from './types';
export type { DdimSampleLoopOptions, SampleLoopOptions, SampleLoopStep } from './sample-loop-options';
export type { DiffusionSamplingMethod } from './sample-driver';
