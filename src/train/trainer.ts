// The Trainer: a training step and its save / restore. It runs past 300 lines because its
// step is kept as one function, so the order of its seeded draws, its single readback and
// its updates reads in one place; the checks (step-checks.ts), gradient sums, checkpoint
// format (trainer-checkpoint.ts) and options (trainer-options.ts) live beside it.
import * as tf from '@tensorflow/tfjs-core';
import { dataRangeError, type DataRange } from '../data/data-range';
import type { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { DifflibError } from '../errors';
import type { TimestepSampler } from '../timesteps/timestep-sampler';
import { AdamW } from './adamw';
import type { Checkpoint, CheckpointStore } from './checkpoint-store';
import { storeFor } from './checkpoint-target';
import { EMA } from './ema';
import { sumInGroups } from './sum-in-groups';
import { accumulate, mapValues } from './gradient-sums';
import { dropLabels } from './label-dropout';
import { learningRateAt } from './learning-rate';
import { checkFiniteStep, checkStepBatch, checkTimestepSample } from './step-checks';
import { buildStepLog, type StepLog } from './step-log';
import { stepSeed } from './step-seeds';
import { resolveTrainableModel, type ResolvedModel } from './resolve-model';
import { resolveTimestepSampler } from './resolve-sampler';
import { captureCheckpoint, checkCheckpoint, checkpointHyperparameters, restoreCheckpoint, type TrainerParts } from './trainer-checkpoint';
import {
  checkTrainerFit,
  checkTrainerParts,
  resolveHyperparameters,
  type ResolvedHyperparameters,
  type TrainerHyperparameters,
  type TrainerOptions,
} from './trainer-options';
import { standardNormal } from '../random-normal';

/**
 * The second argument of {@link Trainer.step}: the model's kwargs for the batch, which
 * are its labels, under the trainer's `labelKey`.
 */
export interface TrainerStepOptions {
  /** [B] int32 class labels, for a class-conditional model (with the default `labelKey`). */
  y?: tf.Tensor1D;
  /** [B] int32 class labels, under another `labelKey`. */
  [labelKey: string]: tf.Tensor1D | undefined;
}

/** What {@link Trainer.load} needs besides the checkpoint: the objects, and hyperparameters to change. */
export interface TrainerLoadOptions extends Partial<TrainerHyperparameters> {
  /** The process (the same one the checkpoint was trained with). */
  diffusion: TrainerOptions['diffusion'];
  /** A freshly built model of the same architecture; its weights are overwritten. */
  model: TrainerOptions['model'];
  /** Called with each step's log. */
  onStep?: TrainerOptions['onStep'];
  /** Check the first batch's range (see {@link TrainerOptions.expectDataRange}). */
  expectDataRange?: TrainerOptions['expectDataRange'];
}

/** `global_norm` of PyTorch's `clip_grad_norm_` adds this to the norm before dividing. */
const CLIP_EPSILON = 1e-6;

/**
 * Trains a diffusion model with Improved DDPM's recipe (improved-diffusion's
 * `TrainLoop`): timesteps from a schedule sampler with importance weights, the
 * process's `trainingLosses`, gradients accumulated over microbatches, optional
 * global-norm clipping, an {@link AdamW} update with linear warmup, EMAs of the
 * weights, and per-quartile loss logs; with checkpoints that resume bit for bit.
 * Open at both ends: the model is any {@link TrainableModel} (a {@link UNet} is one)
 * and the sampler any {@link TimestepSampler}; `labelKey`, `minSnrGamma` and
 * `labelDropout` (classifier-free guidance training) are options.
 *
 * One {@link step}:
 * 1. draws B timesteps t_i ~ p(t) with importance weights w_i = 1/(T·p(t_i)), ε ~ N(0, I)
 *    and, with `labelDropout` p, which labels become the null label (each with
 *    probability p), all from seeds derived from (seed, step);
 * 2. for each microbatch, the gradient of (1/B)·Σ_i w_i·L_i (its share of the batch
 *    mean; L_i Min-SNR-γ weighted with `minSnrGamma`) with the model called as
 *    `forward(x_t, t, { [labelKey]: labels, training: true })`, summed;
 * 3. reads back, in ONE batched read, the per-example losses, the weights and ‖g‖
 *    (and, with `expectDataRange`, the first batch's min and max); a non-finite loss
 *    or norm, or a first batch out of range, throws a DifflibError before anything is updated;
 * 4. scales g by min(1, c/(‖g‖ + 10⁻⁶)) when `gradClipNorm` c is set, applies AdamW at
 *    η(step), updates each EMA, hands the timesteps and losses to the sampler's
 *    `update` (when it has one), and logs.
 *
 * Reading the losses before the update (rather than after) costs the same one
 * pipeline sync per step and lets a bad batch be skipped with the weights intact.
 *
 * Differences from improved-diffusion, on purpose: the timesteps of all microbatches
 * are drawn at once and a loss-aware sampler is updated once per step (improved-diffusion
 * does both per microbatch); and each microbatch's loss is its share of the batch mean,
 * so the gradient does not depend on the microbatch size (improved-diffusion sums the
 * microbatch means, scaling the gradient by B/microbatch).
 *
 * Bit-for-bit resume holds on one backend for a model without dropout: tfjs-layers'
 * dropout draws its masks from `Math.random`, outside any seed.
 *
 * @example
 * ```ts
 * const trainer = new Trainer({ diffusion, model: unet, batchSize: 64, lr: 1e-4, emaRates: [0.9999], seed: 0 });
 * for (const batch of batches) {
 *   const log = await trainer.step(batch);
 *   if (log.step % 100 === 0) console.log(logKeyValues(log));
 *   if (log.step % 10000 === 0) await trainer.save('runs/cifar'); // Node; 'indexeddb://run' in a browser
 * }
 * const samples = await trainer.emas[0].withWeights(() => diffusion.ddimSampleLoop(unet.forward, [16, 32, 32, 3]));
 * ```
 *
 * @example
 * ```ts
 * // Classifier-free guidance: 10 classes plus the null label 10, dropped 10% of the time.
 * const unet = createUNet({ ...config, numClasses: 11 });
 * const trainer = new Trainer({ diffusion, model: unet, batchSize: 64, minSnrGamma: 5,
 *   labelDropout: { probability: 0.1, nullLabel: 10 } });
 * await trainer.step(x0, { y: labels }); // labels in [0, 10)
 * const guided = classifierFreeGuidance(unet.forward, { guidanceScale: 3, nullLabel: 10 });
 * ```
 */
export class Trainer {
  /** The hyperparameters, defaults filled in (these go into checkpoints). */
  readonly hyperparameters: ResolvedHyperparameters;
  /** The process trained. */
  readonly diffusion: GaussianDiffusion;
  /** The optimizer, over {@link variables}. */
  readonly optimizer: AdamW;
  /** One EMA per rate of `emaRates`, in that order. */
  readonly emas: readonly EMA[];
  /** The timestep sampler (the `scheduleSampler` object, or the one its name builds). */
  readonly sampler: TimestepSampler;
  /** The variables trained, in checkpoint order. */
  readonly variables: readonly tf.Variable[];
  private readonly model: ResolvedModel;
  private readonly onStep: ((log: StepLog) => void) | undefined;
  /** The range the next batch is checked against; null once one has passed, or with no check asked. */
  private dataRange: DataRange | null;
  private completedSteps = 0;
  private busy: string | null = null;
  private disposed = false;

  /** @param options - the process, the model and the hyperparameters. */
  constructor(options: TrainerOptions) {
    const fn = 'Trainer';
    checkTrainerParts(fn, options);
    const h = resolveHyperparameters(fn, options);
    this.hyperparameters = h;
    this.model = resolveTrainableModel(fn, 'options.model', options.model);
    checkTrainerFit(fn, h, options.diffusion, this.model.numClasses);
    this.sampler = resolveTimestepSampler(fn, options.scheduleSampler ?? h.scheduleSampler, options.diffusion.numTimesteps, h.resampler);
    this.diffusion = options.diffusion;
    this.onStep = options.onStep;
    this.dataRange = options.expectDataRange ?? null;
    this.variables = this.model.variables;
    this.optimizer = new AdamW(this.variables, { learningRate: h.lr, weightDecay: h.weightDecay });
    this.emas = h.emaRates.map((rate) => new EMA(this.variables, rate, { warmup: h.emaWarmup }));
  }

  /**
   * Builds a trainer from a checkpoint: its hyperparameters (any given in `options`
   * replace them) and its whole state, ready to continue.
   *
   * @param source - a {@link CheckpointStore}, a directory path (Node) or a tfjs URL (`indexeddb://…`).
   * @param options - the process, a fresh model of the same architecture, and overrides.
   * @throws DifflibError, leaving no tensor and the model's weights untouched, when
   *   the checkpoint is missing or damaged (naming the file at fault) or does not fit
   *   the process, model, sampler or options.
   */
  static async load(source: CheckpointStore | string, options: TrainerLoadOptions): Promise<Trainer> {
    const fn = 'Trainer.load';
    const checkpoint = await storeFor(fn, source).read();
    const overrides = Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined));
    const merged = { ...checkpointHyperparameters(fn, checkpoint), ...overrides } as TrainerOptions;
    // The options and the tensors are checked before the constructor makes the moments and EMAs.
    checkTrainerParts(fn, merged);
    const model = resolveTrainableModel(fn, 'options.model', merged.model);
    const hyperparameters = resolveHyperparameters(fn, merged);
    checkTrainerFit(fn, hyperparameters, merged.diffusion, model.numClasses);
    // Refuses a "custom" sampler not passed again, or one over another T (what it builds is host arrays only).
    resolveTimestepSampler(fn, merged.scheduleSampler ?? hyperparameters.scheduleSampler, merged.diffusion.numTimesteps, hyperparameters.resampler);
    checkCheckpoint(fn, { hyperparameters, diffusion: merged.diffusion, names: model.names, variables: model.variables }, checkpoint);
    const trainer = new Trainer(merged);
    try {
      trainer.completedSteps = restoreCheckpoint(fn, trainer.parts(), checkpoint);
    } catch (e) {
      // The sampler refused its state, before any weight was written: free the moments and EMAs.
      trainer.dispose();
      throw e;
    }
    return trainer;
  }

  /** Number of steps taken (including those before a restored checkpoint). */
  get stepCount(): number {
    return this.completedSteps;
  }

  /** η for a step (the next one by default), from `lr`, `warmupSteps` and `lrAnnealSteps`. */
  learningRate(step: number = this.completedSteps): number {
    return learningRateAt(step, this.hyperparameters);
  }

  /**
   * One training step on a batch (see the class documentation for what it does).
   * Reads back exactly once (the losses and the gradient norm, for the log and the
   * sampler) and leaks no tensor. The caller keeps `x0` and the labels.
   *
   * @param x0 - [B, …] float32 training examples (scaled to [−1, 1] for images; set
   *   `expectDataRange` to have the first batch checked).
   * @param options - the labels, [B] int32, under `labelKey` (`{ y }` by default), for
   *   a class-conditional model; required with `labelDropout`.
   * @returns the step's log.
   * @throws DifflibError before any tensor is made for a bad batch (checked by the
   *   trainer, then by the model's `checkInput`), and after the readback, with nothing
   *   updated, when a loss or the gradient norm is not finite (`NON_FINITE`) or the
   *   first batch falls outside `expectDataRange` (`DATA_RANGE`). An error thrown by the
   *   sampler's `update` propagates after the step has been applied and counted.
   */
  async step(x0: tf.Tensor, options: TrainerStepOptions = {}): Promise<StepLog> {
    const fn = 'Trainer.step';
    this.checkIdle(fn);
    const givenLabels = checkStepBatch(fn, x0, options as Record<string, tf.Tensor | undefined>, { ...this.hyperparameters, model: this.model });
    this.busy = 'a step';
    const step = this.completedSteps;
    const h = this.hyperparameters;
    const B = h.batchSize;
    const owned: tf.Tensor[] = [];
    let gradients: Record<string, tf.Tensor> = {};
    try {
      const { timesteps, weights, indices } = checkTimestepSample(fn, this.sampler.sample(B, { seed: stepSeed(h.seed, step, 'timesteps') }), B, this.diffusion.numTimesteps);
      const noise = standardNormal(x0.shape, stepSeed(h.seed, step, 'noise'));
      owned.push(timesteps, weights, noise);
      const labels = givenLabels && h.labelDropout ? dropLabels(givenLabels, h.labelDropout, stepSeed(h.seed, step, 'labels')) : givenLabels;
      if (labels && labels !== givenLabels) owned.push(labels);
      const terms: { loss: tf.Tensor[]; mse: tf.Tensor[]; vb: tf.Tensor[] } = { loss: [], mse: [], vb: [] };
      for (let start = 0; start < B; start += h.microbatch) {
        const size = Math.min(h.microbatch, B - start);
        const { value, grads } = tf.variableGrads(() => {
          const part = <T extends tf.Tensor>(t: T): T => tf.slice(t, start, size);
          const losses = this.diffusion.trainingLosses(this.model.forward, part(x0), indices.subarray(start, start + size), {
            noise: part(noise),
            modelKwargs: labels ? { [h.labelKey]: part(labels), training: true } : { training: true },
            ...(h.minSnrGamma !== null ? { minSnrGamma: h.minSnrGamma } : {}),
          });
          for (const key of ['loss', 'mse', 'vb'] as const) {
            const t = losses[key];
            if (t) {
              terms[key].push(tf.keep(t));
              owned.push(t);
            }
          }
          // This microbatch's share of the batch mean (1/B)·Σ w_i·L_i.
          return tf.div(tf.sum(tf.mul(losses.loss, part(weights))), B);
        }, this.variables as tf.Variable[]);
        value.dispose();
        gradients = accumulate(gradients, grads);
      }

      const present = (['mse', 'vb'] as const).filter((key) => terms[key].length > 0);
      const range = this.dataRange;
      const readback = tf.tidy(() =>
        tf.concat([
          ...terms.loss,
          ...present.flatMap((key) => terms[key]),
          weights,
          tf.reshape(tf.sqrt(sumInGroups(Object.values(gradients).map((g) => tf.sum(tf.square(g))))), [1]),
          ...(range ? [tf.stack([tf.min(x0), tf.max(x0)])] : []),
        ]),
      );
      owned.push(readback);
      const host = (await readback.data()) as Float32Array;
      const loss = host.subarray(0, B);
      const gradNormAt = B * (2 + present.length);
      const gradNorm = host[gradNormAt]!;
      if (range) {
        const error = dataRangeError(fn, 'x0', [host[gradNormAt + 1]!, host[gradNormAt + 2]!], range, 'expectDataRange');
        if (error) throw new DifflibError(error.code, fn, 'x0', `${error.detail}. Nothing was updated`);
        this.dataRange = null;
      }
      checkFiniteStep(fn, step, indices, loss, gradNorm);

      const lr = this.learningRate(step);
      const clipScale = h.gradClipNorm !== null ? Math.min(1, h.gradClipNorm / (gradNorm + CLIP_EPSILON)) : 1;
      tf.tidy(() => {
        const clipped = clipScale < 1 ? mapValues(gradients, (g) => tf.mul(g, clipScale)) : gradients;
        this.optimizer.applyGradients(clipped, lr);
      });
      for (const ema of this.emas) ema.update();
      this.completedSteps = step + 1;
      this.sampler.update?.(indices, loss);

      const log = buildStepLog({
        step,
        samples: (step + 1) * B,
        lr,
        gradNorm,
        clipped: clipScale < 1,
        numTimesteps: this.diffusion.numTimesteps,
        timesteps: indices,
        weights: host.subarray(B * (1 + present.length), B * (2 + present.length)),
        terms: {
          loss,
          ...Object.fromEntries(present.map((key, k) => [key, host.subarray(B * (1 + k), B * (2 + k))])),
        },
      });
      this.onStep?.(log);
      return log;
    } finally {
      tf.dispose(owned);
      tf.dispose(gradients);
      this.busy = null;
    }
  }

  /**
   * Saves the model weights, EMA weights, optimizer moments and step, sampler history,
   * hyperparameters and a fingerprint of the process. Reads every tensor back (the
   * caller asked for them); a step may start once the returned promise settles.
   *
   * @param target - a {@link CheckpointStore}, a directory path (Node: written
   *   atomically, see {@link DirectoryCheckpointStore}) or a tfjs URL such as
   *   `'indexeddb://run'` (see {@link IOHandlerCheckpointStore}).
   */
  async save(target: CheckpointStore | string): Promise<void> {
    const fn = 'Trainer.save';
    const store = storeFor(fn, target);
    this.checkIdle(fn);
    this.busy = 'a save';
    let checkpoint: Checkpoint;
    try {
      checkpoint = await captureCheckpoint(this.parts());
    } finally {
      this.busy = null;
    }
    await store.write(checkpoint);
  }

  /**
   * Loads a checkpoint into this trainer: weights, EMAs, optimizer, sampler history
   * and step. The parameters, EMA rates, sampler and process must match the
   * checkpoint's (else a DifflibError, with nothing changed); other hyperparameters
   * (lr, seed, …) stay this trainer's. Use {@link Trainer.load} to take them from the
   * checkpoint.
   *
   * @param source - a {@link CheckpointStore}, a directory path or a tfjs URL.
   * @throws DifflibError, with nothing changed, when the checkpoint is missing or
   *   damaged (naming the file at fault) or does not fit this trainer.
   */
  async restore(source: CheckpointStore | string): Promise<void> {
    const fn = 'Trainer.restore';
    const store = storeFor(fn, source);
    this.checkIdle(fn);
    this.busy = 'a restore';
    try {
      const checkpoint = await store.read();
      this.completedSteps = restoreCheckpoint(fn, this.parts(), checkpoint);
    } finally {
      this.busy = null;
    }
  }

  /** Frees the optimizer moments and the EMA weights (the model stays the caller's). */
  dispose(): void {
    if (this.disposed) return;
    this.checkIdle('Trainer.dispose');
    this.optimizer.dispose();
    this.emas.forEach((ema) => ema.dispose());
    this.disposed = true;
  }

  private parts(): TrainerParts {
    return {
      step: this.completedSteps,
      hyperparameters: this.hyperparameters,
      diffusion: this.diffusion,
      modelConfig: this.model.config(),
      names: this.model.names,
      variables: this.variables,
      emas: this.emas,
      optimizer: this.optimizer,
      sampler: this.sampler,
    };
  }

  private checkIdle(fn: string): void {
    if (this.disposed) throw new DifflibError('UNSATISFIABLE', fn, 'this', 'is a disposed Trainer');
    if (this.busy) throw new DifflibError('UNSATISFIABLE', fn, 'this', `is busy with ${this.busy}: await it first`);
    const swapped = this.emas.find((ema) => ema.isSwappedIn);
    if (swapped) {
      throw new DifflibError('UNSATISFIABLE', fn, 'this', `holds the EMA ${swapped.rate} weights (inside EMA.withWeights): training them would corrupt the model`);
    }
  }

}
