import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, describeValue } from '../../errors';
import { shapeString } from '../../validate';
import { AlphaSchedulerBase } from './alpha-scheduler';
import { BETA_KEYS, SPACING_KEYS } from './common-keys';
import { boolean, oneOf, type ConfigSchema } from './config';
import { f32 } from './float32';
import { type SchedulerStepOptions, type SchedulerStepOutput } from './scheduler';
import { spacedTimesteps, type TimestepSpacing } from './spacing';

/** diffusers' `PNDMScheduler` config keys and defaults. */
const PNDM_SCHEMA: ConfigSchema = {
  ...BETA_KEYS,
  skip_prk_steps: { default: false, check: boolean },
  set_alpha_to_one: { default: false, check: boolean },
  // diffusers' PNDM raises for "sample".
  prediction_type: { default: 'epsilon', check: oneOf('epsilon', 'v_prediction') },
  timestep_spacing: SPACING_KEYS.timestep_spacing,
  steps_offset: SPACING_KEYS.steps_offset,
};

/** The Runge–Kutta warm-up takes the last 4 timesteps of the schedule (diffusers' `pndm_order`). */
const PNDM_ORDER = 4;

/** `PNDMScheduler`'s constructor options: diffusers' config keys, camelCased. */
export interface PNDMSchedulerOptions {
  /** T, the training steps (1000). */
  numTrainTimesteps?: number;
  /** β_1 of `linear` / `scaled_linear` (0.0001). */
  betaStart?: number;
  /** β_T of `linear` / `scaled_linear` (0.02). */
  betaEnd?: number;
  /** `linear` (default), `scaled_linear` (Stable Diffusion) or `squaredcos_cap_v2` (cosine). */
  betaSchedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  /** Betas to use instead of a named schedule, `numTrainTimesteps` of them. */
  trainedBetas?: ArrayLike<number> | null;
  /** Skip the Runge–Kutta warm-up and run PLMS only (false; Stable Diffusion uses true). */
  skipPrkSteps?: boolean;
  /** ᾱ below timestep 0: 1 (true) or ᾱ_0 (false, default). */
  setAlphaToOne?: boolean;
  /** What the model predicts: `epsilon` (default) or `v_prediction`. */
  predictionType?: 'epsilon' | 'v_prediction';
  /** `leading` (default), `trailing` or `linspace`. */
  timestepSpacing?: 'leading' | 'trailing' | 'linspace';
  /** Added to `leading` timesteps (0; Stable Diffusion uses 1). */
  stepsOffset?: number;
}

/** What {@link PNDMScheduler.step} returns: the next sample and which method made it. */
export interface PNDMStepOutput extends SchedulerStepOutput {
  /** `prk` for a Runge–Kutta warm-up call, `plms` for a linear multistep one. */
  phase: 'prk' | 'plms';
}

/**
 * PNDM (Liu et al. 2022), diffusers' `PNDMScheduler`: pseudo linear multistep steps on
 * the DDIM transfer of eq. (9),
 *
 * φ(x_t, ε, t → s) = √(ᾱ_s/ᾱ_t) x_t − (ᾱ_s − ᾱ_t) ε / (ᾱ_t √(1 − ᾱ_s) + √(ᾱ_t (1 − ᾱ_t) ᾱ_s)),
 *
 * with ε the Adams–Bashforth blend (55ε_0 − 59ε_1 + 37ε_2 − 9ε_3)/24 of the newest
 * outputs once four are known. The first three steps are either Runge–Kutta (12 model
 * calls at half steps, weights 1/6, 1/3, 1/3, 1/6) or, with `skipPrkSteps`, lower-order
 * PLMS where the second timestep is called twice. s is t − ⌊T/N⌋ whatever the spacing;
 * ᾱ below 0 is 1 (`setAlphaToOne`) or ᾱ_0. The steps are counted: call them in order.
 *
 * @example
 * ```ts
 * const scheduler = new PNDMScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012,
 *   skipPrkSteps: true, stepsOffset: 1 });
 * scheduler.setTimesteps(50); // 51 model calls
 * let x = tf.randomNormal([1, 64, 64, 4]);
 * for (const t of scheduler.timesteps) {
 *   const eps = model(x, t);
 *   const { prevSample } = scheduler.step(eps, t, x);
 *   tf.dispose([x, eps]);
 *   x = prevSample;
 * }
 * scheduler.dispose(); // frees the model outputs it keeps
 * ```
 */
export class PNDMScheduler extends AlphaSchedulerBase {
  /** The config keys and their defaults. @internal */
  static readonly schema = PNDM_SCHEMA;
  /** diffusers' `order`: 1 (one model call per `step`). */
  readonly order = 1;
  /** 1: x_T is unit Gaussian noise. */
  readonly initNoiseSigma = 1;
  /** ᾱ below timestep 0. */
  readonly finalAlphaCumprod: number;
  private prk: readonly number[] = [];
  private plms: readonly number[] = [];
  /** The newest model outputs (diffusers' `ets`), at most 4. */
  private ets: tf.Tensor[] = [];
  /** The sample a Runge–Kutta group (or the doubled PLMS call) starts from. */
  private curSample: tf.Tensor | null = null;
  /** The Runge–Kutta weighted sum of the group's outputs so far. */
  private curModelOutput: tf.Tensor | null = null;

  /** @param options - diffusers' config, camelCased; see {@link PNDMSchedulerOptions}. */
  constructor(options: PNDMSchedulerOptions = {}) {
    super('PNDMScheduler', PNDM_SCHEMA, options);
    this.finalAlphaCumprod = this.finalAlphaCumprodOf();
  }

  /** The Runge–Kutta calls' timesteps (the first 12 of `timesteps`; none with `skipPrkSteps`). */
  get prkTimesteps(): ArrayLike<number> {
    return this.prk;
  }

  /** The PLMS calls' timesteps (the rest of `timesteps`). */
  get plmsTimesteps(): ArrayLike<number> {
    return this.plms;
  }


  protected override checkInferenceSteps(fn: string, n: number): void {
    if (!this.cfg<boolean>('skip_prk_steps') && n < PNDM_ORDER) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'numInferenceSteps', `must be at least ${PNDM_ORDER} for the Runge–Kutta warm-up (or set skipPrkSteps), got ${describeValue(n)}`);
    }
  }

  protected computeTimesteps(n: number): number[] {
    const T = this.cfg<number>('num_train_timesteps');
    // Ascending, as diffusers' `_timesteps`.
    const ts = spacedTimesteps(this.cfg<TimestepSpacing>('timestep_spacing'), T, n, this.cfg<number>('steps_offset')).reverse();
    let prk: number[];
    let plms: number[];
    if (this.cfg<boolean>('skip_prk_steps')) {
      prk = [];
      plms = [...ts.slice(0, -1), ...ts.slice(-2, -1), ...ts.slice(-1)].reverse();
    } else {
      // The last 4 timesteps and their half steps [a, a+h, b, b+h, …], each inner one doubled, descending.
      const half = Math.floor(Math.floor(T / n) / 2);
      const pairs = ts.slice(-PNDM_ORDER).flatMap((v) => [v, v + half]);
      prk = pairs.slice(0, -1).flatMap((v) => [v, v]).slice(1, -1).reverse();
      plms = ts.slice(0, -3).reverse();
    }
    this.prk = prk;
    this.plms = plms;
    return [...prk, ...plms];
  }

  /** One PNDM call: a Runge–Kutta stage for the first 12 calls (without `skipPrkSteps`), else PLMS. */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, options?: SchedulerStepOptions): PNDMStepOutput {
    const fn = 'PNDMScheduler.step';
    this.checkStep(fn, modelOutput, sample, options, []);
    this.indexOf(fn, t);
    if (this.stepIndex === null && t !== this.timestepValues[0]) {
      throw new DifflibError('OUT_OF_RANGE', fn, 't', `must be timesteps[0] = ${this.timestepValues[0]} on the first step (PNDM counts its steps from the start), got ${describeValue(t)}`);
    }
    const counter = this.countedIndex(fn, t);
    const kept = this.ets[0];
    if (kept !== undefined && !tf.util.arraysEqual(kept.shape, modelOutput.shape)) {
      throw new DifflibError('SHAPE_MISMATCH', fn, 'modelOutput', `must keep the shape of the earlier steps' outputs ${shapeString(kept.shape)} (call setTimesteps to start anew), got ${shapeString(modelOutput.shape)}`);
    }
    const prk = counter < this.prk.length;
    const prevSample = tf.tidy(() => (prk ? this.stepPrk(modelOutput, t, sample, counter) : this.stepPlms(modelOutput, t, sample, counter)));
    this.stepIndex = counter + 1;
    return { prevSample, phase: prk ? 'prk' : 'plms' };
  }

  /** diffusers' `step_prk`: stage `counter % 4` of a Runge–Kutta step from `prkTimesteps[4⌊counter/4⌋]`. */
  private stepPrk(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, counter: number): tf.Tensor {
    const T = this.cfg<number>('num_train_timesteps');
    const diffToPrev = counter % 2 ? 0 : Math.floor(Math.floor(T / this.numInferenceSteps) / 2);
    const prevT = t - diffToPrev;
    const timestep = this.prk[Math.floor(counter / 4) * 4]!;
    let eps = modelOutput;
    switch (counter % 4) {
      case 0:
        this.setCurModelOutput(tf.mul(modelOutput, f32(1 / 6)));
        this.ets.push(this.hold(modelOutput));
        this.release(this.curSample);
        this.curSample = this.hold(sample);
        break;
      case 1:
      case 2:
        this.setCurModelOutput(tf.add(this.curModelOutput!, tf.mul(modelOutput, f32(1 / 3))));
        break;
      default:
        eps = tf.add(this.curModelOutput!, tf.mul(modelOutput, f32(1 / 6)));
        this.setCurModelOutput(null);
    }
    const prev = this.prevSample(this.curSample!, timestep, prevT, eps);
    if (counter % 4 === 3) {
      // The group is done: its start sample is never read again.
      this.release(this.curSample);
      this.curSample = null;
    }
    return prev;
  }

  /** diffusers' `step_plms`: the Adams–Bashforth blend of the newest outputs (lower order at first). */
  private stepPlms(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, counter: number): tf.Tensor {
    const ratio = Math.floor(this.cfg<number>('num_train_timesteps') / this.numInferenceSteps);
    let prevT = t - ratio;
    let timestep = t;
    if (counter !== 1) {
      while (this.ets.length > 3) this.release(this.ets.shift());
      this.ets.push(this.hold(modelOutput));
    } else {
      prevT = t;
      timestep = t + ratio;
    }
    const e = this.ets;
    const n = e.length;
    if (n === 1 && counter === 0) {
      this.curSample = this.hold(sample);
      return this.prevSample(sample, timestep, prevT, modelOutput);
    }
    if (n === 1 && counter === 1) {
      // The doubled second timestep: average with the first output, restart from the first sample.
      const prev = this.prevSample(this.curSample!, timestep, prevT, tf.div(tf.add(modelOutput, e[0]!), 2));
      this.release(this.curSample);
      this.curSample = null;
      return prev;
    }
    let eps: tf.Tensor;
    if (n === 2) eps = tf.div(tf.sub(tf.mul(e[1]!, 3), e[0]!), 2);
    else if (n === 3) eps = tf.div(tf.add(tf.sub(tf.mul(e[2]!, 23), tf.mul(e[1]!, 16)), tf.mul(e[0]!, 5)), 12);
    else eps = tf.mul(tf.sub(tf.add(tf.sub(tf.mul(e[3]!, 55), tf.mul(e[2]!, 59)), tf.mul(e[1]!, 37)), tf.mul(e[0]!, 9)), f32(1 / 24));
    return this.prevSample(sample, timestep, prevT, eps);
  }

  /** diffusers' `_get_prev_sample`: the transfer φ(x_t, ε, t → s) of eq. (9), float32 as torch. */
  private prevSample(sample: tf.Tensor, t: number, prevT: number, modelOutput: tf.Tensor): tf.Tensor {
    const alphaProdT = this.alphasCumprod[t]!;
    const alphaProdTPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const betaProdT = f32(1 - alphaProdT);
    const betaProdTPrev = f32(1 - alphaProdTPrev);
    let eps = modelOutput;
    if (this.cfg<string>('prediction_type') === 'v_prediction') {
      eps = tf.add(tf.mul(modelOutput, f32(Math.sqrt(alphaProdT))), tf.mul(sample, f32(Math.sqrt(betaProdT))));
    }
    const sampleCoeff = f32(Math.sqrt(f32(alphaProdTPrev / alphaProdT)));
    const denom = f32(f32(alphaProdT * f32(Math.sqrt(betaProdTPrev))) + f32(Math.sqrt(f32(f32(alphaProdT * betaProdT) * alphaProdTPrev))));
    return tf.sub(tf.mul(sample, sampleCoeff), tf.div(tf.mul(eps, f32(alphaProdTPrev - alphaProdT)), denom));
  }

  /** Replaces the held Runge–Kutta sum. */
  private setCurModelOutput(value: tf.Tensor | null): void {
    this.release(this.curModelOutput);
    this.curModelOutput = value === null ? null : this.hold(value);
  }

  protected override onHistoryReleased(): void {
    this.ets = [];
    this.curSample = null;
    this.curModelOutput = null;
  }
}
