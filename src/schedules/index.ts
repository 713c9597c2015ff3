export { betasForAlphaBar, cosineAlphaBar } from './alpha-bar';
export { BETA_SCHEDULE_NAMES, namedBetaSchedule, type BetaRangeOptions, type BetaScheduleName } from './named';
export { NoiseSchedule, type NoiseScheduleConfig, type Respacing } from './noise-schedule';
export { spaceTimesteps } from './space-timesteps';
