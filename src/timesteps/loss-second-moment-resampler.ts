import { DifflibError, describeValue } from '../errors';
import { checkInteger } from '../validate';
import { ScheduleSampler } from './schedule-sampler';

/** The loss history of a {@link LossSecondMomentResampler}, as plain numbers (for checkpoints). */
export interface LossHistoryState {
  /** [T × historyPerTerm] most recent losses per timestep, oldest first, row-major. */
  lossHistory: number[];
  /** How many losses (0 … historyPerTerm) each timestep holds. */
  lossCounts: number[];
}

/** Options of {@link LossSecondMomentResampler}. */
export interface LossSecondMomentOptions {
  /** How many recent losses each timestep remembers. Default 10. */
  historyPerTerm?: number;
  /** Probability mass spread uniformly so no timestep is starved. Default 0.001. */
  uniformProb?: number;
}

/**
 * Importance sampling of timesteps by the second moment of their recent losses
 * (Improved DDPM, eq. 18): p(t) ∝ √E[L_t²], mixed with `uniformProb` of uniform
 * mass; uniform until every timestep has `historyPerTerm` losses. It makes L_vlb
 * trainable directly.
 *
 * @example
 * ```ts
 * const sampler = new LossSecondMomentResampler(4000);
 * const { indices, weights } = sampler.sample(64);
 * // ... compute per-example losses ...
 * sampler.update(indices, lossesOnHost); // or hand it to a Trainer: scheduleSampler: sampler
 * ```
 */
export class LossSecondMomentResampler extends ScheduleSampler {
  /** How many recent losses each timestep remembers. */
  readonly historyPerTerm: number;
  /** Probability mass spread uniformly over all timesteps. */
  readonly uniformProb: number;
  /** [T × historyPerTerm] most recent losses per timestep, oldest first. */
  private readonly lossHistory: Float64Array;
  private readonly lossCounts: Int32Array;

  /** @param numTimesteps - T of the process. */
  constructor(numTimesteps: number, options: LossSecondMomentOptions = {}) {
    const fn = 'LossSecondMomentResampler';
    super(numTimesteps, fn);
    const historyPerTerm = options.historyPerTerm ?? 10;
    const uniformProb = options.uniformProb ?? 0.001;
    checkInteger(fn, 'options.historyPerTerm', historyPerTerm, { min: 1 });
    if (typeof uniformProb !== 'number' || !(uniformProb >= 0 && uniformProb <= 1)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'options.uniformProb', `must lie in [0, 1], got ${describeValue(uniformProb)}`);
    }
    this.historyPerTerm = historyPerTerm;
    this.uniformProb = uniformProb;
    this.lossHistory = new Float64Array(this.numTimesteps * historyPerTerm);
    this.lossCounts = new Int32Array(this.numTimesteps);
  }

  /** True once every timestep has a full history. */
  get warmedUp(): boolean {
    return this.lossCounts.every((c) => c === this.historyPerTerm);
  }

  /**
   * w_t = (1 − uniformProb)·√(mean L_t²)/Σ_s √(mean L_s²) + uniformProb/T once warmed up;
   * all ones before. Float64 [T].
   */
  weights(): Float64Array {
    if (!this.warmedUp) return new Float64Array(this.numTimesteps).fill(1);
    const H = this.historyPerTerm;
    const rms = Float64Array.from({ length: this.numTimesteps }, (_, t) => {
      let sumSq = 0;
      for (let k = 0; k < H; k++) sumSq += this.lossHistory[t * H + k]! ** 2;
      return Math.sqrt(sumSq / H);
    });
    const total = rms.reduce((a, b) => a + b, 0);
    return rms.map((r) => (r / total) * (1 - this.uniformProb) + this.uniformProb / this.numTimesteps);
  }

  /**
   * Records the loss of each (timestep, loss) pair, dropping the oldest loss of a
   * timestep whose history is full.
   *
   * @param timesteps - integers in [0, T).
   * @param losses - finite per-example losses, same length.
   */
  updateWithAllLosses(timesteps: ArrayLike<number>, losses: ArrayLike<number>): void {
    const fn = 'LossSecondMomentResampler.updateWithAllLosses';
    if (timesteps?.length === undefined || losses?.length === undefined || timesteps.length !== losses.length) {
      throw new DifflibError(
        'SHAPE_MISMATCH',
        fn,
        'losses',
        `must have one loss per timestep, got ${describeValue(losses)} for ${describeValue(timesteps)}`,
      );
    }
    for (let i = 0; i < timesteps.length; i++) {
      const t = timesteps[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) {
        throw new DifflibError('OUT_OF_RANGE', fn, 'timesteps', `must hold integers in [0, ${this.numTimesteps - 1}], got ${describeValue(t)} at index ${i}`);
      }
      if (!Number.isFinite(losses[i])) {
        throw new DifflibError('INVALID_ARGUMENT', fn, 'losses', `must be finite, got ${describeValue(losses[i])} at index ${i}`);
      }
    }
    const H = this.historyPerTerm;
    for (let i = 0; i < timesteps.length; i++) {
      const t = timesteps[i]!;
      const row = t * H;
      if (this.lossCounts[t] === H) {
        this.lossHistory.copyWithin(row, row + 1, row + H);
        this.lossHistory[row + H - 1] = losses[i]!;
      } else {
        this.lossHistory[row + this.lossCounts[t]!] = losses[i]!;
        this.lossCounts[t]! += 1;
      }
    }
  }

  /**
   * The {@link TimestepSampler} hook a {@link Trainer} calls after each step: the
   * same as {@link updateWithAllLosses}.
   */
  update(timesteps: ArrayLike<number>, losses: ArrayLike<number>): void {
    this.updateWithAllLosses(timesteps, losses);
  }

  /** A copy of the loss history, to store in a checkpoint. */
  state(): LossHistoryState {
    return { lossHistory: Array.from(this.lossHistory), lossCounts: Array.from(this.lossCounts) };
  }

  /**
   * Replaces the loss history with one from `state()` (of a sampler with the same
   * T and historyPerTerm). Checked whole before anything changes.
   */
  loadState(state: LossHistoryState): void {
    const fn = 'LossSecondMomentResampler.loadState';
    const T = this.numTimesteps;
    const H = this.historyPerTerm;
    const ok =
      state !== null &&
      typeof state === 'object' &&
      Array.isArray(state.lossHistory) &&
      Array.isArray(state.lossCounts) &&
      state.lossHistory.length === T * H &&
      state.lossCounts.length === T &&
      state.lossHistory.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
      state.lossCounts.every((c) => Number.isInteger(c) && c >= 0 && c <= H);
    if (!ok) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'state',
        `must hold ${T}×${H} finite losses and ${T} counts in [0, ${H}], got ${describeValue(state)}`,
      );
    }
    this.lossHistory.set(state.lossHistory);
    this.lossCounts.set(state.lossCounts);
  }
}
