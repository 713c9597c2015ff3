import type * as tf from '@tensorflow/tfjs-core';
import type { SamplingStep } from '../step-loop';
import type { PSampleOptions } from './options';

/** Options of the sampling loops of {@link GaussianDiffusion} (`pSampleLoop` and friends). */
export interface SampleLoopOptions extends Omit<PSampleOptions, 'noise'> {
  /** x_T to start from, of `shape` (the caller keeps ownership); drawn from N(0, I) (with `seed`) when absent. */
  initialNoise?: tf.Tensor;
  /** @deprecated x_T: use `initialNoise` (in a step's options `noise` is that step's ε). */
  noise?: tf.Tensor;
  /** Seeds x_T and every step's noise, so a run is reproducible on a backend. */
  seed?: number;
  /** Called after each step with (steps done, total steps). */
  onProgress?: (done: number, total: number) => void;
  /** Stops the loop between steps; it then rejects with the signal's reason and leaks nothing. */
  signal?: AbortSignal;
}

/** Options of the DDIM loops. */
export interface DdimSampleLoopOptions extends SampleLoopOptions {
  /** η: 0 for deterministic DDIM, 1 for DDPM-like noise. Default 0. */
  eta?: number;
}

/** One step of `pSampleLoopProgressive` / `ddimSampleLoopProgressive`: t runs from T−1 down to 0. */
export type SampleLoopStep = SamplingStep;
