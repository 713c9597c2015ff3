import * as tf from '@tensorflow/tfjs-core';
import type { DiffusionModel, ModelKwargs } from '../diffusion/types';
import { DifflibError, describeValue } from '../errors';
import { checkModelOutput, checkTensor, shapeString } from '../validate';

/** Options of {@link classifierFreeGuidance}. */
export interface ClassifierFreeGuidanceOptions {
  /**
   * w in ε̃ = ε_∅ + w·(ε_y − ε_∅): 1 gives the plain conditional model, 0 the
   * unconditional one, w > 1 strengthens the condition (GLIDE, Imagen and diffusers'
   * `guidance_scale`; Ho & Salimans write (1 + w')ε_y − w'ε_∅, i.e. w = 1 + w'). Any
   * finite number.
   */
  guidanceScale: number;
  /**
   * The label the model was trained with for "no condition" (the label that label
   * dropout substitutes), an integer ≥ 0 — often `numClasses` for a model with
   * `numClasses + 1` embeddings.
   */
  nullLabel: number;
  /** The kwargs key holding the int32 labels [B]. Default `'y'` (the U-Net's). */
  labelKey?: string;
  /**
   * The model outputs 2C channels, mean part then variance part (`learned` /
   * `learned_range` variances). Guidance then mixes the mean parts only and keeps the
   * conditional variance part, as GLIDE does. Default false (C channels).
   */
  learnedVariance?: boolean;
}

/**
 * Classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion
 * Guidance"): wraps a class-conditional model, trained with its labels sometimes
 * replaced by `nullLabel`, into a model that follows its condition more closely:
 *
 *   ε̃(x_t, y) = ε(x_t, ∅) + w·(ε(x_t, y) − ε(x_t, ∅)).
 *
 * Each call runs the wrapped model once, on the doubled batch [x_t; x_t] with labels
 * [y; ∅] (timesteps doubled too; other kwargs are passed unchanged, so they must not
 * be batch-shaped). The mix applies to whatever the mean part predicts — ε, x_0, v
 * or x_{t−1}: each is affine in ε at fixed x_t and the weights (1 − w, w) sum to
 * 1, so guiding any of them guides ε the same way. For learned variances the
 * variance part is the conditional pass's. Labels equal to `nullLabel` are allowed
 * (those elements come out unconditional). The labels stay on the device.
 *
 * @param model - the conditional network, reading its labels from `kwargs[labelKey]`.
 * @returns a model (x_t [B, …, C], t [B], kwargs with labels [B] int32) → [B, …, C]
 *   (or [B, …, 2C]); use it anywhere a {@link DiffusionModel} goes.
 *
 * @example
 * ```ts
 * const guided = classifierFreeGuidance(unet.forward, { guidanceScale: 3, nullLabel: 1000 });
 * const y = tf.tensor1d([207, 360], 'int32');
 * const x0 = await dpmSolverSample(diffusion.respace('20'), guided, [2, 64, 64, 3], { modelKwargs: { y } });
 * ```
 */
export function classifierFreeGuidance(model: DiffusionModel, options: ClassifierFreeGuidanceOptions): DiffusionModel {
  const fn = 'classifierFreeGuidance';
  const { guidanceScale: w, nullLabel, labelKey, learnedVariance } = checkOptions(fn, model, options);
  return (x, t, kwargs) => {
    const labels = checkCall(fn, labelKey, x, t, kwargs);
    return tf.tidy(() => {
      const batch = x.shape[0]!;
      const doubledLabels = tf.concat([labels, tf.fill([batch], nullLabel, 'int32')], 0);
      const output = model(tf.concat([x, x], 0), tf.concat([t, t], 0), { ...kwargs, [labelKey]: doubledLabels });
      checkOutput(fn, output, x, learnedVariance);
      const [conditional, unconditional] = tf.split(output, 2, 0) as [tf.Tensor, tf.Tensor];
      const guide = (cond: tf.Tensor, uncond: tf.Tensor): tf.Tensor => tf.add(uncond, tf.mul(w, tf.sub(cond, uncond)));
      if (!learnedVariance) return guide(conditional, unconditional);
      const [condMean, condVariance] = tf.split(conditional, 2, -1) as [tf.Tensor, tf.Tensor];
      const [uncondMean] = tf.split(unconditional, 2, -1) as [tf.Tensor, tf.Tensor];
      return tf.concat([guide(condMean, uncondMean), condVariance], -1);
    });
  };
}

function checkOptions(
  fn: string,
  model: unknown,
  options: unknown,
): { guidanceScale: number; nullLabel: number; labelKey: string; learnedVariance: boolean } {
  if (typeof model !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'model', `must be a function (x, t, kwargs?) => tf.Tensor, got ${describeValue(model)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an options object { guidanceScale, nullLabel }, got ${describeValue(options)}`);
  }
  const { guidanceScale, nullLabel, labelKey = 'y', learnedVariance = false } = options as Partial<ClassifierFreeGuidanceOptions>;
  if (typeof guidanceScale !== 'number' || !Number.isFinite(guidanceScale)) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'options.guidanceScale',
      `must be a finite number (1: conditional, 0: unconditional), got ${describeValue(guidanceScale)}`,
    );
  }
  if (nullLabel === undefined) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'options.nullLabel',
      'is required: guidance needs the label the model was trained with for "no condition" (the label-dropout label)',
    );
  }
  if (typeof nullLabel !== 'number' || !Number.isInteger(nullLabel) || nullLabel < 0 || nullLabel > 2 ** 31 - 1) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'options.nullLabel',
      `must be an integer >= 0 (an int32 label), got ${describeValue(nullLabel)}`,
    );
  }
  if (typeof labelKey !== 'string' || labelKey === '') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.labelKey', `must be a non-empty string, got ${describeValue(labelKey)}`);
  }
  if (typeof learnedVariance !== 'boolean') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.learnedVariance', `must be a boolean, got ${describeValue(learnedVariance)}`);
  }
  return { guidanceScale, nullLabel, labelKey, learnedVariance };
}

/** Checks one call of the guided model; returns its labels. Runs before any tensor is made. */
function checkCall(fn: string, labelKey: string, x: unknown, t: unknown, kwargs: ModelKwargs | undefined): tf.Tensor1D {
  const xs = checkTensor(fn, 'x', x, { minRank: 2 });
  const batch = xs.shape[0]!;
  const ts = checkTensor(fn, 't', t, { dtype: null });
  if (ts.rank !== 1 || ts.shape[0] !== batch) {
    throw new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      't',
      `must be a Tensor1D of ${batch} timesteps (x has batch ${batch}), got shape ${shapeString(ts.shape)}`,
    );
  }
  const arg = `kwargs.${labelKey}`;
  const labels = kwargs?.[labelKey];
  if (labels === undefined) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      arg,
      `is missing: the guided model needs the class labels, an int32 Tensor1D [${batch}] (pass them as modelKwargs: { ${labelKey}: labels })`,
    );
  }
  const y = checkTensor(fn, arg, labels, { dtype: 'int32' });
  if (y.rank !== 1 || y.shape[0] !== batch) {
    throw new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      arg,
      `must be a Tensor1D with one label per batch element ([${batch}]), got shape ${shapeString(y.shape)}`,
    );
  }
  return y as tf.Tensor1D;
}

function checkOutput(fn: string, output: unknown, x: tf.Tensor, learnedVariance: boolean): void {
  const channels = x.shape[x.rank - 1]!;
  const expected = [2 * x.shape[0]!, ...x.shape.slice(1, -1), learnedVariance ? 2 * channels : channels];
  const why = ` on the doubled batch (learnedVariance: ${learnedVariance}, so ${learnedVariance ? '2C' : 'C'} channels)`;
  checkModelOutput(fn, 'model output', output, expected, why);
}
