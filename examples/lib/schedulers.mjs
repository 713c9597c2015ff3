// Which of diffusers' schedulers difflib has, and how to drive one with a model trained by
// improved-diffusion's process (examples/digits.mjs): the same betas, and a learned-variance
// output cut down to what the scheduler takes. Used by examples/scheduler-comparison.mjs and
// the browser demo (examples/browser).
import * as tf from '@tensorflow/tfjs-core';
import { DifflibError, schedulerFromConfig } from 'difflib';

/** The 13 scheduler classes of diffusers that difflib ports, by `_class_name`. */
export const DIFFUSERS_SCHEDULERS = [
  'DDPMScheduler',
  'DDIMScheduler',
  'PNDMScheduler',
  'LCMScheduler',
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'HeunDiscreteScheduler',
  'LMSDiscreteScheduler',
  'KDPM2DiscreteScheduler',
  'DPMSolverMultistepScheduler',
  'DPMSolverSinglestepScheduler',
  'DEISMultistepScheduler',
  'UniPCMultistepScheduler',
];

/**
 * Which of {@link DIFFUSERS_SCHEDULERS} `schedulerFromConfig` builds, found at run time by
 * asking it for each with its defaults.
 * @returns {{ available: Array<{ name: string, defaults: Record<string, unknown> }>, missing: string[] }}
 *   `defaults` is the class's full default config (`toConfig()`, `_class_name` included).
 */
export function availableSchedulers() {
  const available = [];
  const missing = [];
  for (const name of DIFFUSERS_SCHEDULERS) {
    try {
      const scheduler = schedulerFromConfig({ _class_name: name });
      available.push({ name, defaults: scheduler.toConfig() });
      scheduler.dispose();
    } catch (error) {
      // Only "no such class" means missing; any other refusal of the defaults is a bug to see.
      if (!(error instanceof DifflibError && error.argument === 'config._class_name')) throw error;
      missing.push(name);
    }
  }
  return { available, missing };
}

/**
 * The diffusers config (`scheduler_config.json` as JSON) of `className` for a model trained
 * with improved-diffusion's named `schedule` over `T` steps: diffusers' `squaredcos_cap_v2` is
 * improved-diffusion's cosine (betas_for_alpha_bar with max β 0.999, held in float32) and
 * `linear` is its linear schedule at T = 1000. Where the class has `variance_type` and the
 * model learned its variance, the config says so (`learned_range`): DDPMScheduler then uses
 * the variance channels, the DPM-Solvers drop them themselves. `extra` keys are added when
 * the class has them (e.g. `{ timestep_spacing: 'trailing' }`).
 *
 * @param {string} className - a diffusers `_class_name`.
 * @param {{ schedule: 'cosine' | 'linear', timesteps: number, modelVarType?: string }} process -
 *   the process the model was trained with (examples/digits.mjs's metadata).
 * @param {Record<string, unknown>} [extra]
 */
export function schedulerConfigFor(className, process, extra = {}) {
  const betaSchedule = { cosine: 'squaredcos_cap_v2', linear: 'linear' }[process.schedule];
  if (!betaSchedule) throw new Error(`no diffusers beta_schedule for improved-diffusion's "${process.schedule}" schedule`);
  if (process.schedule === 'linear' && process.timesteps !== 1000) {
    throw new Error(`improved-diffusion scales its linear schedule by 1000/T; pass trained_betas for T = ${process.timesteps}`);
  }
  const probe = schedulerFromConfig({ _class_name: className });
  const defaults = probe.config;
  probe.dispose();
  const config = { _class_name: className, num_train_timesteps: process.timesteps, beta_schedule: betaSchedule };
  const learned = process.modelVarType === 'learned' || process.modelVarType === 'learned_range';
  if (learned && 'variance_type' in defaults) config.variance_type = process.modelVarType;
  for (const [key, value] of Object.entries(extra)) if (key in defaults) config[key] = value;
  return config;
}

/**
 * What the browser demo changes in a class's defaults for the digits model (see the
 * measurements in docs/schedulers.md). The cosine schedule's last step has σ ≈ 2·10⁴
 * (ᾱ_{T−1} ≈ 2.4·10⁻⁹, its β clipped at 0.999): there an ε-model's small error becomes a huge
 * error in x̂_0 = x − σ·ε̂, which a scheduler that does not clip x̂_0 carries to the end, and
 * Heun's and KDPM2's second-order correction across that step diverges even with an exact
 * model. So a class that can clip x̂_0 and does not by default clips it (`thresholding`, which
 * with sample_max_value 1 clips to [−1, 1]: LCM, the DPM-Solvers, DEIS, UniPC); one that
 * cannot and starts at t = T − 1 starts below it (`leading` spacing, `steps_offset` 1: Euler,
 * Euler ancestral, Heun, LMS, KDPM2); DDPM, DDIM and PNDM keep their defaults.
 * @param {Record<string, unknown>} defaults - the class's default config.
 * @returns {Record<string, unknown>} the keys to change (`extra` of {@link schedulerConfigFor}).
 */
export function digitsOverrides(defaults) {
  if (defaults.thresholding === false && defaults.clip_sample !== true) return { thresholding: true };
  if (defaults.timestep_spacing !== undefined && defaults.timestep_spacing !== 'leading') return { timestep_spacing: 'leading', steps_offset: 1 };
  return {};
}

/**
 * The model as `scheduler` takes it: `forward`'s output as it is where the scheduler's config
 * has a learned `variance_type` (it expects 2C channels), else its first `channels` channels
 * (the ε of a learned-variance model).
 * @param {(x: tf.Tensor, t: tf.Tensor1D, kwargs?: object) => tf.Tensor} forward
 * @param {import('difflib').Scheduler} scheduler
 * @param {number} channels - C, the image's channels.
 */
export function modelForScheduler(forward, scheduler, channels) {
  const varianceType = scheduler.config.variance_type;
  if (varianceType === 'learned' || varianceType === 'learned_range') return forward;
  return (x, t, kwargs) =>
    tf.tidy(() => {
      const out = forward(x, t, kwargs);
      const last = out.shape.length - 1;
      if (out.shape[last] === channels) return out;
      const begin = out.shape.map(() => 0);
      const size = out.shape.map((d, i) => (i === last ? channels : d));
      return tf.slice(out, begin, size);
    });
}
