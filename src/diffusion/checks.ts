import type * as tf from '@tensorflow/tfjs-core';
import { DifflibError, attributeErrors, describeValue } from '../errors';
import { NoiseSchedule } from '../schedules/noise-schedule';
import { checkSameShape, checkTensor } from '../validate';
import type { GaussianDiffusionOptions } from './options';

// Argument checks of {@link GaussianDiffusion}'s methods, run before any tensor is made.

/** The schedule `options` describe: `betas` or `schedule`, respaced by `useTimesteps`. @internal */
export function resolveSchedule(fn: string, options: GaussianDiffusionOptions): NoiseSchedule {
  if ((options.betas === undefined) === (options.schedule === undefined)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.betas', 'give exactly one of options.betas and options.schedule');
  }
  let schedule: NoiseSchedule;
  if (options.schedule !== undefined) {
    if (!(options.schedule instanceof NoiseSchedule)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.schedule', `must be a NoiseSchedule, got ${describeValue(options.schedule)}`);
    }
    schedule = options.schedule;
  } else {
    schedule = attributeErrors(fn, 'options.betas', () => NoiseSchedule.fromBetas(options.betas!));
  }
  const use = options.useTimesteps;
  if (use === undefined) return schedule;
  return attributeErrors(fn, 'options.useTimesteps', () =>
    schedule.respace(typeof use === 'string' ? use : { useTimesteps: use }),
  );
}

/** `value` if it is one of `allowed`, else an UNKNOWN_OPTION error. @internal */
export function checkEnum<T extends string>(fn: string, arg: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new DifflibError(
      'UNKNOWN_OPTION',
      fn,
      arg,
      `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

/** Refuses a model that is not a function. @internal */
export function checkModel(fn: string, model: unknown): void {
  if (typeof model !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'model', `must be a function (x, t, kwargs?) => tf.Tensor, got ${describeValue(model)}`);
  }
}

/** Refuses a condFn that is not a function. @internal */
export function checkCondFn(fn: string, condFn: unknown): void {
  if (condFn !== undefined && typeof condFn !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.condFn', `must be a function (x, t, kwargs?) => gradient, got ${describeValue(condFn)}`);
  }
}

/** Refuses noise that is not a tensor shaped like x. @internal */
export function checkNoise(fn: string, x: tf.Tensor, noise: unknown, arg = 'noise'): void {
  checkTensor(fn, arg, noise);
  checkSameShape(fn, 'x', x, arg, noise as tf.Tensor);
}

/** η, a finite number ≥ 0. @internal */
export function checkEta(fn: string, eta: unknown): number {
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.eta', `must be a finite number >= 0, got ${describeValue(eta)}`);
  }
  return eta;
}
