import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { standardNormal } from '../../random-normal';
import { checkModelOutput, checkSeed, checkTensor, shapeString } from '../../validate';
import { configFromOptions, type ConfigSchema } from './config';
import { checkTrainedBetasLength } from './trained-betas';

/**
 * Per-call options of {@link Scheduler.step}: the noise of an ancestral or SDE step, and
 * diffusers' `step()` keyword arguments, camelCased. A scheduler refuses an option it
 * does not take.
 */
export interface SchedulerStepOptions {
  /** The N(0, I) draw of a step that draws noise, shaped like `sample`; drawn with `seed` when absent. */
  noise?: tf.Tensor;
  /** Seed of the draw when `noise` is absent (random when both are absent). */
  seed?: number;
  /** DDIM: η, the share of the posterior's noise (0 = deterministic DDIM, 1 = DDPM-like). */
  eta?: number;
  /** DDIM: re-derive ε from the clipped x̂_0. */
  useClippedModelOutput?: boolean;
  /** Euler: stochasticity ("churn") of Karras et al. (2022), Algorithm 2. */
  sChurn?: number;
  /** Euler: smallest σ that churns. */
  sTmin?: number;
  /** Euler: largest σ that churns. */
  sTmax?: number;
  /** Euler: scale of the churn noise. */
  sNoise?: number;
  /** LMS: the order of the linear multistep method (default 4). */
  order?: number;
}

/**
 * What {@link Scheduler.step} returns: the next sample x_{t−1} and, where the scheduler
 * forms one, its estimate of x_0. The caller owns both (dispose them).
 */
export interface SchedulerStepOutput {
  /** x at the next timestep (the sample the loop goes on with). */
  prevSample: tf.Tensor;
  /** x̂_0, the scheduler's estimate of the clean sample at this step. */
  predOriginalSample?: tf.Tensor;
}

/**
 * A diffusers-compatible noise scheduler: the numerics of diffusers' `SchedulerMixin`
 * classes, step for step. The sampling loop is
 *
 * ```text
 * scheduler.setTimesteps(N)
 * x = x_T · initNoiseSigma
 * for t of timesteps:  x = step(model(scaleModelInput(x, t), t), t, x).prevSample
 * ```
 *
 * `t` is a plain number taken from `timesteps` (fractional for some schedulers); images
 * are NHWC, and a learned-variance model's extra channels are on the last axis. Every
 * method is synchronous; a step reads nothing back and leaks nothing; what it must keep
 * (multistep history) it clones and owns until `setTimesteps` or `dispose`.
 */
export interface Scheduler {
  /** diffusers' config: snake_case keys, every default filled in. */
  readonly config: Readonly<Record<string, unknown>>;
  /** How many model evaluations one solver step makes (diffusers' `order`). */
  readonly order: number;
  /** The number of inference steps last given to `setTimesteps` (0 before). */
  readonly numInferenceSteps: number;
  /** Chooses the N inference timesteps (and sigmas) and forgets any history. */
  setTimesteps(numInferenceSteps: number): void;
  /** The timesteps to call the model at, in order; empty before `setTimesteps`. */
  readonly timesteps: ArrayLike<number>;
  /** σ_t per step (sigma-space schedulers), one more than the steps (the last is the final σ). */
  readonly sigmas?: ArrayLike<number>;
  /** The standard deviation of x_T: multiply unit noise by it to start sampling. */
  readonly initNoiseSigma: number;
  /** The model's input at `t` (x/√(σ²+1) in sigma space); the caller owns it (it may be `sample` itself). */
  scaleModelInput(sample: tf.Tensor, t: number): tf.Tensor;
  /** One step from x_t to x_{t−1} given the model's output at t. */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SchedulerStepOutput;
  /** diffusers' `scheduler_config.json`: the config with `_class_name`. */
  toConfig(): Record<string, unknown>;
  /** Frees the history the scheduler holds. */
  dispose(): void;
}

/** Which step options a scheduler takes besides `noise` and `seed`. @internal */
export type StepOptionName = Exclude<keyof SchedulerStepOptions, 'noise' | 'seed'>;

/**
 * What every scheduler shares: its config, the timesteps and the step counter, the
 * checks every public method makes before any tensor exists, noise, and the history
 * it owns.
 * @internal
 */
export abstract class SchedulerBase implements Scheduler {
  /** diffusers' config: snake_case keys, every default filled in. */
  readonly config: Readonly<Record<string, unknown>>;
  /** How many model evaluations one solver step makes (diffusers' `order`). */
  abstract readonly order: number;
  /** The standard deviation of x_T: multiply unit noise by it to start sampling. */
  abstract readonly initNoiseSigma: number;
  /** The number of inference steps last given to `setTimesteps` (0 before). */
  numInferenceSteps = 0;
  /** Set by `setTimesteps`. */
  protected timestepValues: Float64Array = new Float64Array(0);
  /** The index in `timesteps` of the next step, for schedulers that count steps; null before the first. */
  protected stepIndex: number | null = null;
  /** Tensors kept between steps. */
  private readonly held = new Set<tf.Tensor>();

  protected constructor(
    /** diffusers' class name, e.g. `"DDIMScheduler"` (`_class_name` in its config). */
    readonly className: string,
    schema: ConfigSchema,
    options: unknown,
  ) {
    this.config = Object.freeze(configFromOptions(className, schema, options));
    checkTrainedBetasLength(className, this.config);
    this.checkConfig();
  }

  /** Cross-key checks of the config (a value that is valid alone but not with another). */
  protected checkConfig(): void {}

  /** The timesteps to call the model at, in order; empty before `setTimesteps`. */
  get timesteps(): ArrayLike<number> {
    return this.timestepValues;
  }

  /** The config value of `key`, typed by the caller. */
  protected cfg<T>(key: string): T {
    return this.config[key] as T;
  }

  /**
   * Chooses the N inference timesteps (and sigmas) and forgets any history.
   * @param numInferenceSteps - N, from 1 to `num_train_timesteps`.
   */
  setTimesteps(numInferenceSteps: number): void {
    const fn = `${this.className}.setTimesteps`;
    const T = this.cfg<number>('num_train_timesteps');
    if (!Number.isSafeInteger(numInferenceSteps) || numInferenceSteps < 1 || numInferenceSteps > T) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'numInferenceSteps',
        `must be an integer from 1 to num_train_timesteps (${T}), got ${describeValue(numInferenceSteps)}`,
      );
    }
    this.checkInferenceSteps(fn, numInferenceSteps);
    this.releaseHistory();
    this.stepIndex = null;
    this.numInferenceSteps = numInferenceSteps;
    this.timestepValues = Float64Array.from(this.computeTimesteps(numInferenceSteps));
  }

  /** A scheduler-specific limit on the number of steps. */
  protected checkInferenceSteps(_fn: string, _numInferenceSteps: number): void {}

  /** The timesteps (and whatever tables go with them) for N steps. */
  protected abstract computeTimesteps(numInferenceSteps: number): ArrayLike<number>;

  /**
   * The model's input at `t`: `sample` itself here; x/√(σ²+1) for sigma-space schedulers.
   * @param sample - the current sample x_t.
   * @param t - one of `timesteps`.
   * @returns the model input; the caller owns it (it may be `sample`).
   */
  scaleModelInput(sample: tf.Tensor, t: number): tf.Tensor {
    const fn = `${this.className}.scaleModelInput`;
    this.checkReady(fn);
    checkTensor(fn, 'sample', sample);
    this.indexOf(fn, t);
    return sample;
  }

  /**
   * One step from x_t to the next sample, given the model's output at t.
   * @param modelOutput - the model's output for `scaleModelInput(sample, t)`, sample's shape.
   * @param t - `timesteps[i]` of this step.
   * @param sample - x_t.
   * @param options - noise / seed and the scheduler's step options.
   * @returns the next sample and the scheduler's x̂_0 (the caller owns them).
   */
  abstract step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): SchedulerStepOutput;

  /** diffusers' `scheduler_config.json`: the config with `_class_name`. */
  toConfig(): Record<string, unknown> {
    const copy = (v: unknown) => (Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<number>) : v);
    return { _class_name: this.className, ...Object.fromEntries(Object.entries(this.config).map(([k, v]) => [k, copy(v)])) };
  }

  /** Frees the history the scheduler holds (it can be used again after `setTimesteps`). */
  dispose(): void {
    this.releaseHistory();
  }

  // ------------------------------------------------------------ checks

  /** Refuses a call before `setTimesteps`. */
  protected checkReady(fn: string): void {
    if (this.numInferenceSteps === 0) {
      throw new DifflibError('UNSATISFIABLE', fn, 'this', 'needs setTimesteps(numInferenceSteps) first');
    }
  }

  /** The (first) index of `t` in `timesteps`; refuses a `t` that is not one of them. */
  protected indexOf(fn: string, t: number): number {
    const i = typeof t === 'number' ? this.timestepValues.indexOf(t) : -1;
    if (i < 0) {
      throw new DifflibError('OUT_OF_RANGE', fn, 't', `must be one of the scheduler's timesteps (${previewList(this.timestepValues)}), got ${describeValue(t)}`);
    }
    return i;
  }

  /**
   * The step index of a scheduler that counts its steps as diffusers does: on the first
   * step the index of `t` (its second occurrence where it repeats), then one more each
   * step; `t` must be `timesteps[index]`.
   */
  protected countedIndex(fn: string, t: number): number {
    if (this.stepIndex === null) {
      const first = this.indexOf(fn, t);
      const second = this.timestepValues.indexOf(t, first + 1);
      return second >= 0 ? second : first;
    }
    if (this.stepIndex >= this.timestepValues.length) {
      throw new DifflibError('UNSATISFIABLE', fn, 't', `comes after the last of the ${this.timestepValues.length} steps; call setTimesteps again to sample anew`);
    }
    const expected = this.timestepValues[this.stepIndex]!;
    if (t !== expected) {
      throw new DifflibError('OUT_OF_RANGE', fn, 't', `must be timesteps[${this.stepIndex}] = ${expected} (the steps go in order), got ${describeValue(t)}`);
    }
    return this.stepIndex;
  }

  /**
   * Checks a step's tensors and options before any tensor is made: `sample` float32,
   * `modelOutput` shaped like it (or with twice its channels, on the last axis, where
   * `learnedChannels`), options among `allowed`, `noise` shaped like `sample`.
   */
  protected checkStep(
    fn: string,
    modelOutput: unknown,
    sample: unknown,
    options: unknown,
    allowed: readonly StepOptionName[],
    learnedChannels = false,
  ): SchedulerStepOptions {
    this.checkReady(fn);
    const x = checkTensor(fn, 'sample', sample, { minRank: 1 });
    const out = checkTensor(fn, 'modelOutput', modelOutput, { minRank: 1 });
    const channels = x.shape[x.rank - 1]!;
    const doubled = [...x.shape.slice(0, -1), 2 * channels];
    const learned = learnedChannels && tf.util.arraysEqual(out.shape, doubled);
    checkModelOutput(fn, 'modelOutput', out, learned ? doubled : x.shape, learnedChannels ? ` (sample's, or ${shapeString(doubled)} with learned variance)` : " (sample's)");
    if (options === undefined) return {};
    if (options === null || typeof options !== 'object') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options', `must be an object, got ${describeValue(options)}`);
    }
    const opts = options as SchedulerStepOptions;
    for (const [key, value] of Object.entries(opts)) {
      if (value === undefined || key === 'noise' || key === 'seed') continue;
      if (!(allowed as readonly string[]).includes(key)) {
        const takes = allowed.length > 0 ? `takes ${['noise', 'seed', ...allowed].join(', ')}` : 'takes only noise and seed';
        throw new DifflibError('UNKNOWN_OPTION', fn, `options.${key}`, `is not a ${this.className} step option (it ${takes})`);
      }
    }
    if (opts.noise !== undefined) {
      checkTensor(fn, 'options.noise', opts.noise);
      if (!tf.util.arraysEqual(opts.noise.shape, x.shape)) {
        throw new DifflibError('SHAPE_MISMATCH', fn, 'options.noise', `must have sample's shape ${shapeString(x.shape)}, got ${shapeString(opts.noise.shape)}`);
      }
    }
    checkSeed(fn, 'options.seed', opts.seed);
    return opts;
  }

  // ------------------------------------------------------------ tensors

  /** The step's N(0, I) draw: `options.noise` (the caller's; never disposed here) or a seeded one. */
  protected noise(shape: readonly number[], options: SchedulerStepOptions): tf.Tensor {
    return options.noise ?? standardNormal(shape, options.seed);
  }

  /** Keeps a copy of `t` past the step's tidy, owned by the scheduler. */
  protected hold<T extends tf.Tensor>(t: T): T {
    const kept = tf.keep(t.clone());
    this.held.add(kept);
    return kept;
  }

  /** Frees a tensor from `hold`. */
  protected release(t: tf.Tensor | null | undefined): void {
    if (t && this.held.delete(t)) t.dispose();
  }

  /** Frees every held tensor. */
  protected releaseHistory(): void {
    for (const t of this.held) t.dispose();
    this.held.clear();
    this.onHistoryReleased();
  }

  /** Forget references to released tensors (multistep buffers). */
  protected onHistoryReleased(): void {}
}

function previewList(values: ArrayLike<number>): string {
  const list = Array.from(values);
  return list.length <= 8 ? `[${list.join(', ')}]` : `[${list.slice(0, 4).join(', ')}, …, ${list.slice(-2).join(', ')}] (${list.length})`;
}
