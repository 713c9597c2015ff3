export { sample, sampleProgressive, type Sampler } from './loop';
export type { SampleOptions, SamplingStep } from './loop-options';
export * from './schedulers';
