import * as tf from '@tensorflow/tfjs-core';
import type { ModelKwargs } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import type { TimestepSample } from '../timesteps/timestep-sampler';
import { checkTensor, shapeString } from '../validate';
import type { ResolvedModel } from './resolve-model';
import type { LabelDropout } from './trainer-options';

/** What a step's batch is checked against. @internal */
export interface BatchRules {
  batchSize: number;
  labelKey: string;
  labelDropout: LabelDropout | null;
  model: ResolvedModel;
}

/**
 * Checks a step's batch and its labels (int32 [B] under `labelKey`, the only option a
 * step takes; required with label dropout), then lets the model check them.
 * @returns the labels, or undefined.
 * @internal
 */
export function checkStepBatch(fn: string, x0: tf.Tensor, options: Record<string, tf.Tensor | undefined>, rules: BatchRules): tf.Tensor1D | undefined {
  const { batchSize: B, labelKey, labelDropout } = rules;
  checkTensor(fn, 'x0', x0, { minRank: 2 });
  if (x0.shape[0] !== B) {
    throw new DifflibError('SHAPE_MISMATCH', fn, 'x0', `must hold batchSize = ${B} examples (shape [${B}, …]), got shape ${shapeString(x0.shape)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an options object, got ${describeValue(options)}`);
  }
  const other = Object.keys(options).find((key) => key !== labelKey && options[key] !== undefined);
  if (other !== undefined) {
    throw new DifflibError('INVALID_ARGUMENT', fn, `options.${other}`, `is not an input the trainer passes: a step takes the labels only, under labelKey "${labelKey}"`);
  }
  const labels = options[labelKey];
  const arg = `options.${labelKey}`;
  if (labels !== undefined) {
    checkTensor(fn, arg, labels, { dtype: 'int32' });
    if (labels.rank !== 1 || labels.shape[0] !== B) {
      throw new DifflibError('SHAPE_MISMATCH', fn, arg, `must hold one label per example (${B}), got shape ${shapeString(labels.shape)}`);
    }
  } else if (labelDropout) {
    throw new DifflibError('INVALID_ARGUMENT', fn, arg, `is required: labelDropout replaces a fraction p = ${labelDropout.probability} of the labels by the null label ${labelDropout.nullLabel}`);
  }
  const kwargs: ModelKwargs = labels !== undefined ? { [labelKey]: labels } : {};
  rules.model.checkInput(fn, x0, kwargs);
  return labels as tf.Tensor1D | undefined;
}

/**
 * Checks what a timestep sampler drew: `indices` B integers in [0, T), `timesteps` [B]
 * and `weights` [B] float32 live tensors. Disposes its tensors before refusing it.
 * @internal
 */
export function checkTimestepSample(fn: string, sample: TimestepSample, B: number, T: number): TimestepSample {
  const { timesteps, weights, indices } = (sample ?? {}) as Partial<TimestepSample>;
  const isVector = (t: unknown, dtype: tf.DataType): boolean =>
    t instanceof tf.Tensor && !t.isDisposed && t.dtype === dtype && tf.util.arraysEqual(t.shape, [B]);
  const problem = (): string | null => {
    if (!(indices instanceof Int32Array) || indices.length !== B || !indices.every((t) => t >= 0 && t < T)) {
      return `indices ${describeValue(indices)}, not an Int32Array of ${B} timesteps in [0, ${T})`;
    }
    if (!isVector(timesteps, 'int32')) return `timesteps ${describeValue(timesteps)}, not a live int32 [${B}] tensor`;
    if (!isVector(weights, 'float32')) return `weights ${describeValue(weights)}, not a live float32 [${B}] tensor`;
    return null;
  };
  const found = problem();
  if (found === null) return sample;
  tf.dispose([timesteps, weights].filter((t): t is tf.Tensor1D => t instanceof tf.Tensor));
  throw new DifflibError('INVALID_ARGUMENT', fn, 'scheduleSampler', `returned from sample(${B}) ${found}`);
}

/** Refuses a step whose losses or gradient norm (read back once) are not finite. @internal */
export function checkFiniteStep(fn: string, step: number, timesteps: Int32Array, loss: Float32Array, gradNorm: number): void {
  const bad = loss.findIndex((v) => !Number.isFinite(v));
  if (bad < 0 && Number.isFinite(gradNorm)) return;
  const what = bad >= 0 ? `loss ${loss[bad]} at example ${bad} (t = ${timesteps[bad]})` : `gradient norm ${gradNorm}`;
  throw new DifflibError(
    'NON_FINITE',
    fn,
    'x0',
    `gave a non-finite ${what} at step ${step}: the batch holds NaN/Infinity or training diverged. Nothing was updated (weights, optimizer, EMA, sampler and step are unchanged)`,
  );
}
