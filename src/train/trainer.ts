import * as tf from '@tensorflow/tfjs-core';
import { dataRangeError, type DataRange } from '../data/data-range';
import type { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { DifflibError, describeValue } from '../errors';
import { LossSecondMomentResampler } from '../timesteps/loss-second-moment-resampler';
import type { ScheduleSampler } from '../timesteps/schedule-sampler';
import { UniformSampler } from '../timesteps/uniform-sampler';
import { checkTensor, shapeString } from '../tensor-checks';
import { AdamW } from './adamw';
import type { Checkpoint, CheckpointStore } from './checkpoint-store';
import { DirectoryCheckpointStore } from './directory-checkpoint-store';
import { EMA } from './ema';
import { sumInGroups } from './sum-in-groups';
import { IOHandlerCheckpointStore } from './io-handler-checkpoint-store';
import { learningRateAt } from './learning-rate';
import { buildStepLog, type StepLog } from './step-log';
import { stepSeed } from './step-seeds';
import { resolveTrainableModel, type ResolvedModel } from './trainable-model';
import { captureCheckpoint, checkCheckpoint, checkpointHyperparameters, restoreCheckpoint, type TrainerParts } from './trainer-checkpoint';
import {
  checkTrainerParts,
  resolveHyperparameters,
  type ResolvedHyperparameters,
  type TrainerHyperparameters,
  type TrainerOptions,
} from './trainer-options';
import { standardNormal } from '../random-normal';

/** The second argument of {@link Trainer.step}. */
export interface TrainerStepOptions {
  /** [B] int32 class labels, for a class-conditional model. */
  y?: tf.Tensor1D;
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
 *
 * One {@link step}:
 * 1. draws B timesteps t_i ~ p(t) with importance weights w_i = 1/(T·p(t_i)) and
 *    ε ~ N(0, I), both from seeds derived from (seed, step);
 * 2. for each microbatch, the gradient of (1/B)·Σ_i w_i·L_i (its share of the batch
 *    mean) with the model called as `forward(x_t, t, { y, training: true })`, summed;
 * 3. reads back, in ONE batched read, the per-example losses, the weights and ‖g‖
 *    (and, with `expectDataRange`, the first batch's min and max); a non-finite loss
 *    or norm, or a first batch out of range, throws a DifflibError before anything is updated;
 * 4. scales g by min(1, c/(‖g‖ + 10⁻⁶)) when `gradClipNorm` c is set, applies AdamW at
 *    η(step), updates each EMA, feeds the losses to a loss-aware sampler, and logs.
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
  /** The timestep sampler. */
  readonly sampler: ScheduleSampler;
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
    this.hyperparameters = resolveHyperparameters(fn, options);
    this.model = resolveTrainableModel(fn, 'options.model', options.model);
    this.diffusion = options.diffusion;
    this.onStep = options.onStep;
    this.dataRange = options.expectDataRange ?? null;
    const T = this.diffusion.numTimesteps;
    this.sampler =
      this.hyperparameters.scheduleSampler === 'uniform' ? new UniformSampler(T) : new LossSecondMomentResampler(T, this.hyperparameters.resampler);
    this.variables = this.model.variables;
    const h = this.hyperparameters;
    this.optimizer = new AdamW(this.variables, { learningRate: h.lr, weightDecay: h.weightDecay });
    this.emas = h.emaRates.map((rate) => new EMA(this.variables, rate, { warmup: h.emaWarmup }));
  }

  /**
   * Builds a trainer from a checkpoint: its hyperparameters (any given in `options`
   * replace them) and its whole state, ready to continue.
   *
   * @param source - a {@link CheckpointStore}, a directory path (Node) or a tfjs URL (`indexeddb://…`).
   * @param options - the process, a fresh model of the same architecture, and overrides.
   * @throws DifflibError, before any tensor is made and with the model's weights
   *   untouched, when the checkpoint is missing or damaged (naming the file at fault)
   *   or does not fit the process, model or options.
   */
  static async load(source: CheckpointStore | string, options: TrainerLoadOptions): Promise<Trainer> {
    const fn = 'Trainer.load';
    const checkpoint = await storeFor(fn, source).read();
    const overrides = Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined));
    const merged = { ...checkpointHyperparameters(fn, checkpoint), ...overrides } as TrainerOptions;
    // Everything is checked before the constructor makes the moments and EMAs: a refused checkpoint leaks nothing.
    checkTrainerParts(fn, merged);
    const model = resolveTrainableModel(fn, 'options.model', merged.model);
    const hyperparameters = resolveHyperparameters(fn, merged);
    checkCheckpoint(fn, { hyperparameters, diffusion: merged.diffusion, names: model.names, variables: model.variables }, checkpoint);
    const trainer = new Trainer(merged);
    trainer.completedSteps = restoreCheckpoint(fn, trainer.parts(), checkpoint);
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
   * sampler) and leaks no tensor. The caller keeps `x0` and `y`.
   *
   * @param x0 - [B, …] float32 training examples (scaled to [−1, 1] for images; set
   *   `expectDataRange` to have the first batch checked).
   * @param options - `y`: [B] int32 labels for a class-conditional model.
   * @returns the step's log.
   * @throws DifflibError before any tensor is made for a bad batch, and after the
   *   readback, with nothing updated, when a loss or the gradient norm is not finite
   *   (`NON_FINITE`) or the first batch falls outside `expectDataRange` (`DATA_RANGE`).
   */
  async step(x0: tf.Tensor, options: TrainerStepOptions = {}): Promise<StepLog> {
    const fn = 'Trainer.step';
    this.checkIdle(fn);
    const y = this.checkBatch(fn, x0, options);
    this.busy = 'a step';
    const step = this.completedSteps;
    const h = this.hyperparameters;
    const B = h.batchSize;
    const owned: tf.Tensor[] = [];
    let gradients: Record<string, tf.Tensor> = {};
    try {
      const { timesteps, weights, indices } = this.sampler.sample(B, { seed: stepSeed(h.seed, step, 'timesteps') });
      const noise = standardNormal(x0.shape, stepSeed(h.seed, step, 'noise'));
      owned.push(timesteps, weights, noise);
      const terms: { loss: tf.Tensor[]; mse: tf.Tensor[]; vb: tf.Tensor[] } = { loss: [], mse: [], vb: [] };
      for (let start = 0; start < B; start += h.microbatch) {
        const size = Math.min(h.microbatch, B - start);
        const { value, grads } = tf.variableGrads(() => {
          const part = <T extends tf.Tensor>(t: T): T => tf.slice(t, start, size);
          const losses = this.diffusion.trainingLosses(this.model.forward, part(x0), indices.subarray(start, start + size), {
            noise: part(noise),
            modelKwargs: y ? { y: part(y), training: true } : { training: true },
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
      this.checkFinite(fn, step, indices, loss, gradNorm);

      const lr = this.learningRate(step);
      const clipScale = h.gradClipNorm !== null ? Math.min(1, h.gradClipNorm / (gradNorm + CLIP_EPSILON)) : 1;
      tf.tidy(() => {
        const clipped = clipScale < 1 ? mapValues(gradients, (g) => tf.mul(g, clipScale)) : gradients;
        this.optimizer.applyGradients(clipped, lr);
      });
      for (const ema of this.emas) ema.update();
      if (this.sampler instanceof LossSecondMomentResampler) this.sampler.updateWithAllLosses(indices, loss);
      this.completedSteps = step + 1;

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
      names: this.model.names,
      variables: this.variables,
      emas: this.emas,
      optimizer: this.optimizer,
      resampler: this.sampler instanceof LossSecondMomentResampler ? this.sampler : null,
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

  private checkBatch(fn: string, x0: tf.Tensor, options: TrainerStepOptions): tf.Tensor1D | undefined {
    const B = this.hyperparameters.batchSize;
    checkTensor(fn, 'x0', x0, { minRank: 2 });
    const unet = this.model.unet;
    const expected = unet ? [B, unet.config.imageSize, unet.config.imageSize, unet.config.inChannels] : [B, ...x0.shape.slice(1)];
    if (!tf.util.arraysEqual(x0.shape, expected)) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 'x0', `must have shape ${shapeString(expected)}${unet ? ' (batchSize, and the U-Net\'s imageSize and inChannels)' : ' (batchSize first)'}, got ${shapeString(x0.shape)}`);
    }
    if (options === null || typeof options !== 'object') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an options object, got ${describeValue(options)}`);
    }
    const { y } = options;
    const numClasses = unet?.config.numClasses ?? null;
    if (unet && numClasses === null && y !== undefined) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.y', 'was given but the U-Net is unconditional (config.numClasses is not set)');
    }
    if (numClasses !== null && y === undefined) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.y', `is required: the U-Net is class-conditional over ${numClasses} classes`);
    }
    if (y !== undefined) {
      checkTensor(fn, 'options.y', y, { dtype: 'int32' });
      if (y.rank !== 1 || y.shape[0] !== B) {
        throw new DifflibError('SHAPE_MISMATCH', fn, 'options.y', `must hold one label per example (${B}), got shape ${shapeString(y.shape)}`);
      }
    }
    return y;
  }

  private checkFinite(fn: string, step: number, timesteps: Int32Array, loss: Float32Array, gradNorm: number): void {
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
}

/** g ← g + grads, freeing what is replaced. */
function accumulate(sum: Record<string, tf.Tensor>, grads: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  for (const [name, g] of Object.entries(grads)) {
    const previous = sum[name];
    if (previous) {
      sum[name] = tf.add(previous, g);
      tf.dispose([previous, g]);
    } else {
      sum[name] = g;
    }
  }
  return sum;
}

function mapValues(record: Record<string, tf.Tensor>, f: (t: tf.Tensor) => tf.Tensor): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));
}

/** A store for a target: itself, a tfjs URL (`scheme://…`) or a directory path. */
function storeFor(fn: string, target: CheckpointStore | string): CheckpointStore {
  if (typeof target === 'string') {
    if (target.length === 0) throw new DifflibError('INVALID_ARGUMENT', fn, 'target', 'must be a non-empty path or URL');
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? new IOHandlerCheckpointStore(target) : new DirectoryCheckpointStore(target);
  }
  if (target === null || typeof target !== 'object' || typeof target.write !== 'function' || typeof target.read !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'target', `must be a CheckpointStore, a directory path or a tfjs URL, got ${describeValue(target)}`);
  }
  return target;
}
