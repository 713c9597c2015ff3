export { LossSecondMomentResampler, type LossHistoryState, type LossSecondMomentOptions } from './loss-second-moment-resampler';
export { ScheduleSampler, type TimestepSample, type TimestepSampleOptions } from './schedule-sampler';
export { UniformSampler } from './uniform-sampler';
