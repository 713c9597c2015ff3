export { LossSecondMomentResampler, type LossHistoryState, type LossSecondMomentOptions } from './loss-second-moment-resampler';
export { ScheduleSampler } from './schedule-sampler';
export type { TimestepSample, TimestepSampleOptions, TimestepSampler } from './timestep-sampler';
export { UniformSampler } from './uniform-sampler';
