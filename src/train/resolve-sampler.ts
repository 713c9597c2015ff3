import { DifflibError, describeValue } from '../errors';
import { LossSecondMomentResampler, type LossSecondMomentOptions } from '../timesteps/loss-second-moment-resampler';
import type { TimestepSampler } from '../timesteps/timestep-sampler';
import { UniformSampler } from '../timesteps/uniform-sampler';

/** improved-diffusion's named schedule samplers (`create_named_schedule_sampler`). */
export type ScheduleSamplerName = 'uniform' | 'loss-second-moment';
/** The names, for checks and messages. @internal */
export const SCHEDULE_SAMPLERS: readonly ScheduleSamplerName[] = ['uniform', 'loss-second-moment'];

/**
 * Checks that an object has what a {@link TimestepSampler} must (a `sample` method and a
 * positive integer `numTimesteps`) and that its optional hooks are methods, with
 * `state` and `loadState` given together.
 * @internal
 */
export function checkSamplerObject(fn: string, arg: string, sampler: object): TimestepSampler {
  const s = sampler as Partial<Record<keyof TimestepSampler, unknown>>;
  if (typeof s.sample !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must be a sampler name or a TimestepSampler object with a sample(batchSize, { seed }) method, got ${describeValue(sampler)}`);
  }
  if (typeof s.numTimesteps !== 'number' || !Number.isInteger(s.numTimesteps) || s.numTimesteps < 1) {
    throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}.numTimesteps`, `must be a positive integer (the T it draws from), got ${describeValue(s.numTimesteps)}`);
  }
  for (const hook of ['update', 'state', 'loadState'] as const) {
    if (s[hook] !== undefined && typeof s[hook] !== 'function') {
      throw new DifflibError('INVALID_ARGUMENT', fn, `${arg}.${hook}`, `must be a method or absent, got ${describeValue(s[hook])}`);
    }
  }
  if ((s.state === undefined) !== (s.loadState === undefined)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `must give both state() and loadState() or neither (checkpoints save one and restore with the other), got only ${s.state ? 'state' : 'loadState'}`);
  }
  return sampler as TimestepSampler;
}

/**
 * The sampler a trainer draws its timesteps from: a named one (already checked by
 * {@link resolveHyperparameters}) built over T, or the given object, checked to draw
 * over T. Makes no tensor.
 * @internal
 */
export function resolveTimestepSampler(
  fn: string,
  option: ScheduleSamplerName | 'custom' | TimestepSampler,
  numTimesteps: number,
  resampler: LossSecondMomentOptions,
): TimestepSampler {
  if (option === 'custom') {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'options.scheduleSampler',
      'is "custom": a checkpoint records a TimestepSampler object only by that name; pass the object (built as for the run that saved it) as options.scheduleSampler',
    );
  }
  if (typeof option === 'object' && option !== null) {
    const sampler = checkSamplerObject(fn, 'options.scheduleSampler', option);
    if (sampler.numTimesteps !== numTimesteps) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 'options.scheduleSampler.numTimesteps', `must be the process's T = ${numTimesteps}, got ${sampler.numTimesteps}`);
    }
    return sampler;
  }
  return option === 'loss-second-moment' ? new LossSecondMomentResampler(numTimesteps, resampler) : new UniformSampler(numTimesteps);
}
