import { checkDataRangeOption, type DataRange } from '../data/data-range';
import { checkInteger, checkSeed } from '../validate';
import { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { DifflibError, describeValue } from '../errors';
import type { UNet } from '../nn/unet';
import type { LossSecondMomentOptions } from '../timesteps/loss-second-moment-resampler';
import type { TimestepSampler } from '../timesteps/timestep-sampler';
import { SCHEDULE_SAMPLERS, checkSamplerObject, type ScheduleSamplerName } from './resolve-sampler';
import type { StepLog } from './step-log';
import type { TrainableModel } from './trainable-model';


/**
 * Label dropout for classifier-free guidance (Ho & Salimans 2022): each example's label
 * is replaced by `nullLabel` with probability `probability`, so the one network also
 * learns the unconditional prediction ε(x_t, ∅) that {@link classifierFreeGuidance}
 * mixes with the conditional one at sampling time.
 */
export interface LabelDropout {
  /**
   * p, the probability that an example trains unconditionally, in [0, 1]; 0.1 to 0.2
   * in the paper.
   */
  probability: number;
  /**
   * ∅, the label standing for "no condition", an integer >= 0: give the same number as
   * `nullLabel` to {@link classifierFreeGuidance}. It must be a label the model embeds
   * and no real class: build a U-Net with `numClasses: K + 1` for K classes and use K.
   */
  nullLabel: number;
}

/**
 * The hyperparameters of a {@link Trainer}: everything a checkpoint records (plain
 * JSON; a sampler object is recorded as `'custom'`) and {@link Trainer.load} rebuilds
 * a trainer from. Defaults are improved-diffusion's (`image_train.py`).
 */
export interface TrainerHyperparameters {
  /** B, the batch every {@link Trainer.step} takes. */
  batchSize: number;
  /**
   * Gradients are accumulated over slices of this many examples (improved-diffusion's
   * `microbatch`), trading speed for memory; the update is the same as one pass over B.
   * Default B.
   */
  microbatch?: number;
  /** η, the peak learning rate. Default 1e-4. */
  lr?: number;
  /** λ of AdamW's decoupled weight decay. Default 0. */
  weightDecay?: number;
  /** Linear learning-rate warmup over this many steps. Default 0 (none). */
  warmupSteps?: number;
  /** Linear decay of η to 0 at this step (improved-diffusion's `lr_anneal_steps`). Default 0 (none). */
  lrAnnealSteps?: number;
  /** Scale the gradient to this global L2 norm when it is larger (PyTorch's `clip_grad_norm_`). Default: no clipping. */
  gradClipNorm?: number | null;
  /** Rates of the weight EMAs kept (improved-diffusion's `ema_rate`). Default [0.9999]. */
  emaRates?: number[];
  /**
   * Warm the EMAs up: update k uses min(rate, (1 + k)/(10 + k)), as diffusers' `EMAModel`.
   * Default false (improved-diffusion). Turn it on for runs much shorter than 1/(1 − rate)
   * steps, whose plain average is still mostly the initial weights.
   */
  emaWarmup?: boolean;
  /**
   * How timesteps are drawn: `'uniform'`, `'loss-second-moment'`
   * ({@link LossSecondMomentResampler} with the `resampler` options), or any
   * {@link TimestepSampler} object over the process's T (its `update` gets each step's
   * losses; its `state`/`loadState` go into checkpoints, which record the object as
   * `'custom'`: pass it again to {@link Trainer.load}). Default `'uniform'`.
   */
  scheduleSampler?: ScheduleSamplerName | TimestepSampler;
  /** Options of the `'loss-second-moment'` sampler. */
  resampler?: LossSecondMomentOptions;
  /**
   * The key of the model's kwargs that holds the labels: {@link Trainer.step} takes
   * them as `options[labelKey]` and calls the model with
   * `{ [labelKey]: labels, training: true }`. Default `'y'` (the U-Net's).
   */
  labelKey?: string;
  /**
   * Min-SNR-γ weighting of the mse term (Hang et al. 2023), passed to
   * {@link GaussianDiffusion.trainingLosses} as `minSnrGamma`: 5 in the paper. Not for
   * `previous_x` prediction. Default null (unweighted).
   */
  minSnrGamma?: number | null;
  /**
   * Replace a fraction of the labels by a null label, for classifier-free guidance
   * (see {@link LabelDropout}); every step then needs labels. The draw is seeded by
   * (seed, step) and the labels stay on the device. Default null (labels kept).
   */
  labelDropout?: LabelDropout | null;
  /**
   * Seeds every random draw: step s draws its timesteps and noise from seeds derived
   * from (seed, s), so a resumed run repeats an uninterrupted one bit for bit.
   * Default: drawn once at construction (and stored in checkpoints).
   */
  seed?: number;
}

/** What a {@link Trainer} is built from. */
export interface TrainerOptions extends TrainerHyperparameters {
  /** The process whose `trainingLosses` is minimised. */
  diffusion: GaussianDiffusion;
  /**
   * The network: any {@link TrainableModel} (a model function, its variables and,
   * optionally, its input checks), or a {@link UNet}, taken as {@link trainableUNet}.
   */
  model: UNet | TrainableModel;
  /** Called with each step's log, after the update. */
  onStep?: (log: StepLog) => void;
  /**
   * Check the data's range on the first batch: [min, max], `[-1, 1]` for images.
   * The first {@link Trainer.step} then also reads back its batch's smallest and
   * largest values, inside the step's one readback (no extra sync), and throws a
   * DifflibError (code `DATA_RANGE`) naming both, the range and a hint when they fall
   * outside it, with nothing updated. Once a batch passes, no later step is checked.
   * Worth setting: 8-bit pixels in [0, 255] train with a normal-looking loss and sample
   * garbage. {@link digitsFromMnist} and {@link digitsFromPixels} already give [−1, 1];
   * the noise of {@link swissRoll} can carry a point a little past ±1. Default: no check
   * (see also {@link checkDataRange}).
   */
  expectDataRange?: DataRange;
}

/** Hyperparameters with every default filled in (what a checkpoint records). */
export type ResolvedHyperparameters = Required<
  Omit<TrainerHyperparameters, 'gradClipNorm' | 'resampler' | 'scheduleSampler' | 'minSnrGamma' | 'labelDropout'>
> & {
  /** The clipping norm, or null for none. */
  gradClipNorm: number | null;
  /** The sampler's name, or `'custom'` for a {@link TimestepSampler} object. */
  scheduleSampler: ScheduleSamplerName | 'custom';
  /** Options of the `'loss-second-moment'` sampler, defaults filled in. */
  resampler: Required<LossSecondMomentOptions>;
  /** γ of Min-SNR-γ weighting, or null for none. */
  minSnrGamma: number | null;
  /** The label dropout, or null for none. */
  labelDropout: LabelDropout | null;
};

/** Validates and completes the hyperparameters. @internal */
export function resolveHyperparameters(fn: string, options: TrainerHyperparameters): ResolvedHyperparameters {
  const positiveInteger = (name: string, value: unknown, min: number): number => {
    return checkInteger(fn, `options.${name}`, value, { min });
  };
  const nonNegative = (name: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, `must be a finite number >= 0, got ${describeValue(value)}`);
    }
    return value;
  };
  const batchSize = positiveInteger('batchSize', options.batchSize, 1);
  const microbatch = positiveInteger('microbatch', options.microbatch ?? batchSize, 1);
  if (microbatch > batchSize) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.microbatch', `must be at most batchSize (${batchSize}), got ${microbatch}`);
  }
  const lr = nonNegative('lr', options.lr ?? 1e-4);
  const gradClipNorm = options.gradClipNorm ?? null;
  if (gradClipNorm !== null && !(typeof gradClipNorm === 'number' && gradClipNorm > 0 && Number.isFinite(gradClipNorm))) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.gradClipNorm', `must be a positive number (or null for none), got ${describeValue(gradClipNorm)}`);
  }
  const emaRates = options.emaRates ?? [0.9999];
  if (!Array.isArray(emaRates) || !emaRates.every((r) => typeof r === 'number' && r >= 0 && r < 1) || new Set(emaRates).size !== emaRates.length) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.emaRates', `must be an array of distinct numbers in [0, 1), got ${describeValue(emaRates)}`);
  }
  const emaWarmup = options.emaWarmup ?? false;
  if (typeof emaWarmup !== 'boolean') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.emaWarmup', `must be a boolean, got ${describeValue(emaWarmup)}`);
  }
  const scheduleSampler = resolveSamplerName(fn, options.scheduleSampler ?? 'uniform');
  const resampler = options.resampler ?? {};
  if (resampler === null || typeof resampler !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.resampler', `must be an options object, got ${describeValue(resampler)}`);
  }
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  checkSeed(fn, 'options.seed', seed);
  return {
    batchSize,
    microbatch,
    lr,
    weightDecay: nonNegative('weightDecay', options.weightDecay ?? 0),
    warmupSteps: positiveInteger('warmupSteps', options.warmupSteps ?? 0, 0),
    lrAnnealSteps: positiveInteger('lrAnnealSteps', options.lrAnnealSteps ?? 0, 0),
    gradClipNorm,
    emaRates: [...emaRates],
    emaWarmup,
    scheduleSampler,
    resampler: { historyPerTerm: resampler.historyPerTerm ?? 10, uniformProb: resampler.uniformProb ?? 0.001 },
    seed,
    labelKey: resolveLabelKey(fn, options.labelKey ?? 'y'),
    minSnrGamma: resolveMinSnrGamma(fn, options.minSnrGamma ?? null),
    labelDropout: resolveLabelDropout(fn, options.labelDropout ?? null),
  };
}

/** The name a checkpoint records for the sampler option: its name, or `'custom'` for an object. */
function resolveSamplerName(fn: string, sampler: unknown): ScheduleSamplerName | 'custom' {
  if (sampler !== null && typeof sampler === 'object') {
    checkSamplerObject(fn, 'options.scheduleSampler', sampler);
    return 'custom';
  }
  // 'custom' stands for an object in a checkpoint; the object itself is asked for when the trainer is built.
  if (sampler === 'custom' || SCHEDULE_SAMPLERS.includes(sampler as ScheduleSamplerName)) return sampler as ScheduleSamplerName | 'custom';
  throw new DifflibError(
    'UNKNOWN_OPTION',
    fn,
    'options.scheduleSampler',
    `must be one of ${SCHEDULE_SAMPLERS.map((s) => `"${s}"`).join(', ')} or a TimestepSampler object, got ${describeValue(sampler)}`,
  );
}

function resolveLabelKey(fn: string, labelKey: unknown): string {
  if (typeof labelKey !== 'string' || labelKey === '' || labelKey === 'training') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.labelKey', `must be a non-empty string other than "training" (the trainer passes training: true), got ${describeValue(labelKey)}`);
  }
  return labelKey;
}

function resolveMinSnrGamma(fn: string, gamma: unknown): number | null {
  if (gamma !== null && !(typeof gamma === 'number' && gamma > 0 && Number.isFinite(gamma))) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.minSnrGamma', `must be a finite number > 0 (5 in the paper) or null for none, got ${describeValue(gamma)}`);
  }
  return gamma;
}

function resolveLabelDropout(fn: string, dropout: unknown): LabelDropout | null {
  if (dropout === null) return null;
  if (typeof dropout !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.labelDropout', `must be { probability, nullLabel } or null for none, got ${describeValue(dropout)}`);
  }
  const { probability, nullLabel } = dropout as Partial<LabelDropout>;
  if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.labelDropout.probability', `must be a number in [0, 1] (0.1 to 0.2 in Ho & Salimans), got ${describeValue(probability)}`);
  }
  if (typeof nullLabel !== 'number' || !Number.isInteger(nullLabel) || nullLabel < 0 || nullLabel > 2 ** 31 - 1) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.labelDropout.nullLabel', `must be an integer >= 0 (an int32 label; classifierFreeGuidance's nullLabel), got ${describeValue(nullLabel)}`);
  }
  return { probability, nullLabel };
}

/** Checks the parts of the options that are objects, not numbers. @internal */
export function checkTrainerParts(fn: string, options: TrainerOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an options object, got ${describeValue(options)}`);
  }
  if (!(options.diffusion instanceof GaussianDiffusion)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.diffusion', `must be a GaussianDiffusion, got ${describeValue(options.diffusion)}`);
  }
  if (options.onStep !== undefined && typeof options.onStep !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.onStep', `must be a function, got ${describeValue(options.onStep)}`);
  }
  if (options.expectDataRange !== undefined) checkDataRangeOption(fn, 'options.expectDataRange', options.expectDataRange);
}

/**
 * Checks the hyperparameters that depend on the process and the model: Min-SNR-γ needs
 * a prediction it can weight, and a null label must be one the model embeds. @internal
 */
export function checkTrainerFit(fn: string, h: ResolvedHyperparameters, diffusion: GaussianDiffusion, numClasses: number | null): void {
  if (h.minSnrGamma !== null && diffusion.modelMeanType === 'previous_x') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.minSnrGamma', "applies to 'epsilon', 'start_x' and 'v' prediction, not the process's 'previous_x'");
  }
  if (h.labelDropout !== null && numClasses !== null && h.labelDropout.nullLabel >= numClasses) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'options.labelDropout.nullLabel',
      `must be a label the model embeds, in [0, ${numClasses - 1}], got ${h.labelDropout.nullLabel} (for K classes, build the model with numClasses: K + 1 and use K)`,
    );
  }
}
