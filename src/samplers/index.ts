export { LossSecondMomentResampler, type LossHistoryState, type LossSecondMomentOptions } from './loss-second-moment-resampler';
export { ScheduleSampler, type TimestepSample, type TimestepSampleOptions } from './schedule-sampler';
export { UniformSampler } from './uniform-sampler';
export type { DdimSampleLoopOptions, SampleLoopOptions, SampleLoopStep } from './sample-loop';
export { dpmSolverSample, type DpmSolverSampleOptions } from './dpm-solver';
