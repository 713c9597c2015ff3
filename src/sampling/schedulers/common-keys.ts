import { boolean, finiteNumber, nonNegativeInteger, nullOr, numberArray, oneOf, positiveInteger, positiveNumber, type ConfigKey } from './config';

/**
 * Config keys many diffusers schedulers share, with diffusers' defaults; a scheduler
 * spreads the ones it has into its schema and overrides defaults where its own differ.
 * @internal
 */

/** The training schedule: T and the betas. */
export const BETA_KEYS = {
  num_train_timesteps: { default: 1000, check: positiveInteger },
  beta_start: { default: 0.0001, check: positiveNumber },
  beta_end: { default: 0.02, check: positiveNumber },
  beta_schedule: { default: 'linear', check: oneOf('linear', 'scaled_linear', 'squaredcos_cap_v2') },
  trained_betas: { default: null, check: nullOr(numberArray) },
} satisfies Record<string, ConfigKey>;

/** What the model predicts. */
export const PREDICTION_TYPE: ConfigKey = { default: 'epsilon', check: oneOf('epsilon', 'sample', 'v_prediction') };

/** Clipping and dynamic thresholding of x̂_0. */
export const THRESHOLD_KEYS = {
  thresholding: { default: false, check: boolean },
  dynamic_thresholding_ratio: { default: 0.995, check: (v: unknown) => finiteNumber(v) ?? ((v as number) > 0 && (v as number) < 1 ? null : `must be in (0, 1), got ${v as number}`) },
  sample_max_value: { default: 1.0, check: positiveNumber },
} satisfies Record<string, ConfigKey>;

/** How the inference timesteps are spread over the training ones. */
export const SPACING_KEYS = {
  timestep_spacing: { default: 'leading', check: oneOf('leading', 'trailing', 'linspace') },
  steps_offset: { default: 0, check: nonNegativeInteger },
} satisfies Record<string, ConfigKey>;

/** Zero terminal SNR (Lin et al. 2023). */
export const RESCALE_ZERO_SNR: ConfigKey = { default: false, check: boolean };
