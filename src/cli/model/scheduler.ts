// `--scheduler`: sample with a diffusers scheduler over the flags' training schedule
// instead of improved-diffusion's own loops.
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { schedulerFromConfig, type DiffusionModel, type Scheduler } from '../../index';
import type { FlagValues } from '../flags/spec';
import { CliUsageError } from '../usage-error';
import { asUsage, betasFromFlags, processTypesFromFlags } from './build';

/** A scheduler, the steps to run it for, and the model call it needs. */
export interface SchedulerSampler {
  scheduler: Scheduler;
  numInferenceSteps: number;
  /** The U-Net as the scheduler calls it: timesteps rescaled, variance channels dropped where it takes none. */
  model: DiffusionModel;
}

/** The step count `--timestep_respacing` asks for: "" is every step, "250" or "ddim250" is 250. */
function inferenceSteps(f: FlagValues): number {
  const text = (f['timestep_respacing'] as string).trim();
  if (text === '') return f['diffusion_steps'] as number;
  const match = /^(ddim)?(\d+)$/.exec(text);
  if (!match) throw new CliUsageError(`argument --timestep_respacing: with --scheduler, one step count ("50" or "ddim50"), got '${text}'`);
  return Number(match[2]);
}

/**
 * The scheduler `--scheduler` names: a diffusers class name (schedulerFromConfig with
 * num_train_timesteps = --diffusion_steps, trained_betas = the flags' schedule,
 * prediction_type from --predict_xstart, clip_sample from --clip_denoised and
 * variance_type learned_range with --learn_sigma, where the class has those keys), or a
 * scheduler_config.json (taken as it is, its num_train_timesteps checked).
 *
 * @param value - `--scheduler`.
 * @param f - the flags.
 * @param unet - the model's forward function.
 */
export async function schedulerFromFlags(value: string, f: FlagValues, unet: DiffusionModel): Promise<SchedulerSampler> {
  const T = f['diffusion_steps'] as number;
  let scheduler: Scheduler;
  if (value.endsWith('.json')) {
    const text = await readFile(value, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new CliUsageError(`argument --scheduler: "${value}" cannot be read (${e.code ?? String(e)})`);
    });
    scheduler = asUsage('scheduler', () => schedulerFromConfig(text));
    if (scheduler.config['num_train_timesteps'] !== T) {
      scheduler.dispose();
      throw new CliUsageError(`argument --scheduler: "${value}" has num_train_timesteps ${String(scheduler.config['num_train_timesteps'])}, --diffusion_steps is ${T}`);
    }
  } else {
    const types = processTypesFromFlags(f);
    const base = {
      _class_name: value,
      num_train_timesteps: T,
      trained_betas: Array.from(betasFromFlags(f)),
      prediction_type: types.modelMeanType === 'start_x' ? 'sample' : 'epsilon',
    };
    const probe = asUsage('scheduler', () => schedulerFromConfig(base));
    const keys = Object.keys(probe.config);
    probe.dispose();
    scheduler = asUsage('scheduler', () =>
      schedulerFromConfig({
        ...base,
        ...(keys.includes('clip_sample') ? { clip_sample: f['clip_denoised'] as boolean } : {}),
        ...(keys.includes('variance_type') && f['learn_sigma'] ? { variance_type: 'learned_range' } : {}),
      }),
    );
  }
  const usesVariance = scheduler.config['variance_type'] === 'learned_range' || scheduler.config['variance_type'] === 'learned';
  const dropVariance = Boolean(f['learn_sigma']) && !usesVariance;
  const timeScale = f['rescale_timesteps'] ? 1000 / T : 1;
  const model: DiffusionModel = (x, t, kwargs) =>
    tf.tidy(() => {
      const out = unet(x, timeScale === 1 ? t : (tf.mul(tf.cast(t, 'float32'), timeScale) as tf.Tensor1D), kwargs);
      return dropVariance ? tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, 3]) : out;
    });
  return { scheduler, numInferenceSteps: inferenceSteps(f), model };
}
