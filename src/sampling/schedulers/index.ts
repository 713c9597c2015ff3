export { DDIMScheduler, type DDIMSchedulerOptions } from './ddim';
export { schedulerFromConfig, type SchedulerFromConfigOptions } from './from-config';
export type { Scheduler, SchedulerStepOptions, SchedulerStepOutput } from './scheduler';
