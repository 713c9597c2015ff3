import { checkDataRangeOption, type DataRange } from '../data/data-range';
import { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { DifflibError, describeValue } from '../errors';
import type { UNet } from '../nn/unet';
import type { LossSecondMomentOptions } from '../timesteps/loss-second-moment-resampler';
import type { StepLog } from './step-log';
import type { TrainableModel } from './trainable-model';

/** improved-diffusion's named schedule samplers (`create_named_schedule_sampler`). */
export type ScheduleSamplerName = 'uniform' | 'loss-second-moment';
const SCHEDULE_SAMPLERS: readonly ScheduleSamplerName[] = ['uniform', 'loss-second-moment'];

/**
 * The hyperparameters of a {@link Trainer}: everything a checkpoint records (plain
 * JSON) and {@link Trainer.load} rebuilds a trainer from. Defaults are
 * improved-diffusion's (`image_train.py`).
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
  /** How timesteps are drawn. Default `'uniform'`. */
  scheduleSampler?: ScheduleSamplerName;
  /** Options of the `'loss-second-moment'` sampler. */
  resampler?: LossSecondMomentOptions;
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
  /** The network: a {@link UNet}, or any model function with its variables. */
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
export type ResolvedHyperparameters = Required<Omit<TrainerHyperparameters, 'gradClipNorm' | 'resampler'>> & {
  /** The clipping norm, or null for none. */
  gradClipNorm: number | null;
  /** Options of the `'loss-second-moment'` sampler, defaults filled in. */
  resampler: Required<LossSecondMomentOptions>;
};

/** Validates and completes the hyperparameters. @internal */
export function resolveHyperparameters(fn: string, options: TrainerHyperparameters): ResolvedHyperparameters {
  const positiveInteger = (name: string, value: unknown, min: number): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new DifflibError('INVALID_ARGUMENT', fn, `options.${name}`, `must be an integer >= ${min}, got ${describeValue(value)}`);
    }
    return value;
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
  const scheduleSampler = options.scheduleSampler ?? 'uniform';
  if (!SCHEDULE_SAMPLERS.includes(scheduleSampler)) {
    throw new DifflibError('UNKNOWN_OPTION', fn, 'options.scheduleSampler', `must be one of ${SCHEDULE_SAMPLERS.map((s) => `"${s}"`).join(', ')}, got ${describeValue(scheduleSampler)}`);
  }
  const resampler = options.resampler ?? {};
  if (resampler === null || typeof resampler !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.resampler', `must be an options object, got ${describeValue(resampler)}`);
  }
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'options.seed', `must be an integer in [0, 2^32), got ${describeValue(seed)}`);
  }
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
  };
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
