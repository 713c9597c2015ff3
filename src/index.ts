/**
 * difflib: diffusion-model primitives for TensorFlow.js.
 *
 * @packageDocumentation
 * @module difflib
 */
export * from './backends';
export * from './data';
export * from './diffusion';
export { DifflibError, type DifflibErrorCode } from './errors';
export * from './eval';
export * from './guidance';
export * from './io';
export * from './losses';
export * from './nn';
export * from './timesteps';
export * from './sampling';
export * from './schedules';
export * from './score';
export * from './train';
