export { dpmSolverSample, type DpmSolverSampleOptions } from './dpm-solver-sample';
export { sample, sampleProgressive, type Sampler } from './loop';
export type { SampleOptions } from './loop-options';
export * from './schedulers';
export type { SamplingStep } from '../step-loop';
