import { DifflibError, describeValue } from '../errors';
import { betasForAlphaBar } from './alpha-bar';
import { namedBetaSchedule, type BetaRangeOptions, type BetaScheduleName } from './named';
import { cumprodOneMinus, respaceBetas } from './respace';
import { spaceTimesteps } from './space-timesteps';
import { checkBetas } from './validate';
import { warnDeprecated } from '../deprecation';

/**
 * How to respace a schedule: a spec string for {@link spaceTimesteps} (`"ddim50"`,
 * `"10,15,20"`), section counts, or the steps to keep. A bare array means section counts
 * but is deprecated: it reads like `useTimesteps`, which keeps the steps it lists.
 */
export type Respacing =
  | string
  | {
      /** Counts of steps to keep in each of equal sections of the schedule (`spaceTimesteps`). */
      sectionCounts: readonly number[];
    }
  | {
      /** The steps (of the schedule being respaced) to keep. */
      useTimesteps: Iterable<number>;
    }
  | readonly number[];

/** A JSON-safe description of a {@link NoiseSchedule}, exact to the bit: `NoiseSchedule.fromConfig` rebuilds it. */
export interface NoiseScheduleConfig {
  /** β_t of this (possibly respaced) process, float64 values (JSON keeps doubles exactly). */
  betas: number[];
  /** The original step behind each step. */
  timestepMap: number[];
  /** T of the original process. */
  originalNumTimesteps: number;
}

/**
 * A noise schedule as a value: betas in float64 plus, for a respaced schedule, the
 * original timestep behind each step. Schedules compose — respace a respaced
 * schedule, or rescale one to zero terminal SNR — and every operation returns a new
 * schedule. Pass one to {@link GaussianDiffusion} as `schedule`.
 *
 * @example
 * ```ts
 * const base = NoiseSchedule.named('cosine', 4000);
 * const fast = base.respace('ddim50');          // 50 steps, timestepMap [0, 80, ..., 3920]
 * fast.snr();                                    // ᾱ_t / (1 − ᾱ_t) at each kept step
 * ```
 */
export class NoiseSchedule {
  /** β_t of this process, length T. */
  readonly betas: Float64Array;
  /** For each step of this process, the step of the original process it stands for. */
  readonly timestepMap: readonly number[];
  /** T of the original (unrespaced) process. */
  readonly originalNumTimesteps: number;

  private constructor(betas: Float64Array, timestepMap: readonly number[], originalNumTimesteps: number) {
    this.betas = betas;
    this.timestepMap = timestepMap;
    this.originalNumTimesteps = originalNumTimesteps;
  }

  /** A schedule from user-supplied betas, each finite and in (0, 1]. */
  static fromBetas(betas: ArrayLike<number>): NoiseSchedule {
    const values = checkBetas('NoiseSchedule.fromBetas', 'betas', betas);
    return new NoiseSchedule(values, identity(values.length), values.length);
  }

  /** A predefined schedule; see {@link namedBetaSchedule}. */
  static named(name: BetaScheduleName, numTimesteps: number, options?: BetaRangeOptions): NoiseSchedule {
    return NoiseSchedule.fromBetas(namedBetaSchedule(name, numTimesteps, options));
  }

  /** A schedule discretising a continuous ᾱ(t); see {@link betasForAlphaBar}. */
  static fromAlphaBar(numTimesteps: number, alphaBar: (t: number) => number, maxBeta?: number): NoiseSchedule {
    return NoiseSchedule.fromBetas(betasForAlphaBar(numTimesteps, alphaBar, maxBeta));
  }

  /**
   * Rebuilds a schedule from {@link NoiseSchedule.toConfig}'s description.
   * @param config - betas, timestepMap and originalNumTimesteps.
   * @returns the same schedule, bit for bit.
   * @throws DifflibError naming `config.<field>` when a field is missing or inconsistent.
   *
   * @example
   * ```ts
   * const again = NoiseSchedule.fromConfig(JSON.parse(JSON.stringify(schedule.toConfig())));
   * ```
   */
  static fromConfig(config: NoiseScheduleConfig): NoiseSchedule {
    const fn = 'NoiseSchedule.fromConfig';
    if (config === null || typeof config !== 'object') {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'config', `must be { betas, timestepMap, originalNumTimesteps }, got ${describeValue(config)}`);
    }
    const betas = checkBetas(fn, 'config.betas', config.betas);
    const T0 = config.originalNumTimesteps;
    if (!Number.isSafeInteger(T0) || T0 < betas.length) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'config.originalNumTimesteps', `must be an integer ≥ the ${betas.length} steps, got ${describeValue(T0)}`);
    }
    const map = config.timestepMap;
    const increasing = Array.isArray(map) && map.every((t, i) => Number.isSafeInteger(t) && t >= 0 && t < T0 && (i === 0 || t > map[i - 1]!));
    if (!increasing || map.length !== betas.length) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'config.timestepMap',
        `must list ${betas.length} increasing steps in [0, ${T0 - 1}], got ${describeValue(map)}`,
      );
    }
    return new NoiseSchedule(betas, [...map], T0);
  }

  /**
   * The schedule as plain JSON-safe data, for model files and checkpoints.
   * @returns betas, timestepMap and originalNumTimesteps.
   */
  toConfig(): NoiseScheduleConfig {
    return { betas: Array.from(this.betas), timestepMap: [...this.timestepMap], originalNumTimesteps: this.originalNumTimesteps };
  }

  /** T, the number of steps of this process. */
  get numTimesteps(): number {
    return this.betas.length;
  }

  /** ᾱ_t = ∏_{s ≤ t} (1 − β_s), float64, length T. */
  alphasCumprod(): Float64Array {
    return cumprodOneMinus(this.betas);
  }

  /** Signal-to-noise ratio SNR(t) = ᾱ_t / (1 − ᾱ_t), float64, length T. */
  snr(): Float64Array {
    return this.alphasCumprod().map((a) => a / (1 - a));
  }

  /**
   * Keeps a subset of the steps (improved-diffusion's `SpacedDiffusion`): the kept
   * steps have the same marginals q(x_t | x_0) as before, with betas re-derived from ᾱ.
   *
   * @param respacing - `"ddimN"` or `"a,b,c"` section counts, `{ sectionCounts }`, or
   *   `{ useTimesteps }` giving the steps (of this schedule) to keep.
   */
  respace(respacing: Respacing): NoiseSchedule {
    const fn = 'NoiseSchedule.respace';
    let useTimesteps: Iterable<number>;
    if (typeof respacing === 'string') {
      useTimesteps = spaceTimesteps(this.numTimesteps, respacing);
    } else if (Array.isArray(respacing)) {
      warnDeprecated('respace(number[])', 'respace([a, b, c]) reads section counts; write respace({ sectionCounts: [a, b, c] })');
      useTimesteps = spaceTimesteps(this.numTimesteps, respacing as readonly number[]);
    } else if (respacing && typeof respacing === 'object' && 'sectionCounts' in respacing) {
      useTimesteps = spaceTimesteps(this.numTimesteps, respacing.sectionCounts);
    } else if (respacing && typeof respacing === 'object' && 'useTimesteps' in respacing) {
      useTimesteps = respacing.useTimesteps;
    } else {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'respacing',
        `must be a section-count string, { sectionCounts } or { useTimesteps }, got ${describeValue(respacing)}`,
      );
    }
    const { betas, timestepMap } = respaceBetas(fn, this.alphasCumprod(), useTimesteps);
    return new NoiseSchedule(
      betas,
      timestepMap.map((t) => this.timestepMap[t]!),
      this.originalNumTimesteps,
    );
  }

  /**
   * Shifts and scales √ᾱ so the last step has ᾱ = 0 (SNR 0) while the first keeps
   * its value (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps
   * are Flawed", Algorithm 1):
   *
   *   √ᾱ'_t = (√ᾱ_t − √ᾱ_{T−1}) · √ᾱ_0 / (√ᾱ_0 − √ᾱ_{T−1}),   β'_t = 1 − ᾱ'_t / ᾱ'_{t−1}.
   *
   * The last beta becomes 1; ε-prediction is singular there (x_0 = (x_t − √(1−ᾱ)ε)/√ᾱ
   * divides by 0), so pair it with a model that predicts x_0 or v.
   */
  rescaleZeroTerminalSnr(): NoiseSchedule {
    const fn = 'NoiseSchedule.rescaleZeroTerminalSnr';
    if (this.numTimesteps < 2) {
      throw new DifflibError('UNSATISFIABLE', fn, 'this', `needs at least 2 steps, got ${this.numTimesteps}`);
    }
    const sqrtAlphaBar = this.alphasCumprod().map(Math.sqrt);
    const first = sqrtAlphaBar[0]!;
    const last = sqrtAlphaBar[sqrtAlphaBar.length - 1]!;
    const alphaBar = sqrtAlphaBar.map((s) => ((s - last) * first) / (first - last)).map((s) => s * s);
    const betas = alphaBar.map((a, i) => 1 - a / (i === 0 ? 1 : alphaBar[i - 1]!));
    return new NoiseSchedule(betas, this.timestepMap, this.originalNumTimesteps);
  }
}

function identity(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
