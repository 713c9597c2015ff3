import { DifflibError, describeValue } from '../../errors';
import { optionsFromConfig, type ConfigSchema, type NeutralKeys } from './config';
import { parseConfigJson, stringifyConfigJson } from './config-json';
import type { Scheduler } from './scheduler';
import { DDIMScheduler } from './ddim';
import { DPMSolverMultistepScheduler } from './dpmsolver-multistep';
import { DPMSolverSinglestepScheduler } from './dpmsolver-singlestep';
import { DEISMultistepScheduler } from './deis-multistep';
import { DDPMScheduler } from './ddpm';
import { LCMScheduler } from './lcm';
import { PNDMScheduler } from './pndm';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral-discrete';
import { EulerDiscreteScheduler } from './euler-discrete';
import { HeunDiscreteScheduler } from './heun-discrete';
import { KDPM2DiscreteScheduler } from './k-dpm-2-discrete';
import { LMSDiscreteScheduler } from './lms-discrete';
import { UniPCMultistepScheduler } from './unipc-multistep';

/**
 * A scheduler class as `schedulerFromConfig` needs it: how to build one from camelCase
 * options, its config keys, and the keys of other diffusers versions it accepts only at
 * their neutral value.
 * @internal
 */
export interface SchedulerClass {
  create(options: Record<string, unknown>): Scheduler;
  schema: ConfigSchema;
  neutral: NeutralKeys;
}

/** Every scheduler `schedulerFromConfig` knows, by diffusers class name. @internal */
export const SCHEDULER_CLASSES: Readonly<Record<string, SchedulerClass>> = {
  DDIMScheduler: { create: (o) => new DDIMScheduler(o), schema: DDIMScheduler.schema, neutral: {} },
  DPMSolverMultistepScheduler: { create: (o) => new DPMSolverMultistepScheduler(o), schema: DPMSolverMultistepScheduler.schema, neutral: {} },
  DPMSolverSinglestepScheduler: { create: (o) => new DPMSolverSinglestepScheduler(o), schema: DPMSolverSinglestepScheduler.schema, neutral: {} },
  DEISMultistepScheduler: { create: (o) => new DEISMultistepScheduler(o), schema: DEISMultistepScheduler.schema, neutral: {} },
  DDPMScheduler: { create: (o) => new DDPMScheduler(o), schema: DDPMScheduler.schema, neutral: {} },
  PNDMScheduler: { create: (o) => new PNDMScheduler(o), schema: PNDMScheduler.schema, neutral: {} },
  LCMScheduler: { create: (o) => new LCMScheduler(o), schema: LCMScheduler.schema, neutral: {} },
  EulerAncestralDiscreteScheduler: { create: (o) => new EulerAncestralDiscreteScheduler(o), schema: EulerAncestralDiscreteScheduler.schema, neutral: {} },
  EulerDiscreteScheduler: { create: (o) => new EulerDiscreteScheduler(o), schema: EulerDiscreteScheduler.schema, neutral: {} },
  HeunDiscreteScheduler: { create: (o) => new HeunDiscreteScheduler(o), schema: HeunDiscreteScheduler.schema, neutral: {} },
  KDPM2DiscreteScheduler: { create: (o) => new KDPM2DiscreteScheduler(o), schema: KDPM2DiscreteScheduler.schema, neutral: {} },
  LMSDiscreteScheduler: { create: (o) => new LMSDiscreteScheduler(o), schema: LMSDiscreteScheduler.schema, neutral: {} },
  UniPCMultistepScheduler: { create: (o) => new UniPCMultistepScheduler(o), schema: UniPCMultistepScheduler.schema, neutral: {} },
};

/** Options of {@link schedulerFromConfig}. */
export interface SchedulerFromConfigOptions {
  /** Where warnings go (keys ignored because they change nothing); default `console.warn`. */
  warn?: (message: string) => void;
}

/**
 * Builds the scheduler a diffusers `scheduler_config.json` describes, as it is:
 * snake_case keys and `_class_name` (e.g. `"EulerDiscreteScheduler"`). Keys of newer
 * diffusers versions that difflib does not know are ignored with a warning when their
 * value is `null` or `false` (an unused feature), and refused otherwise, since they would
 * change the results; bad values are refused. `toConfig()` gives the config back.
 *
 * @param config - the parsed JSON, or its text (read as diffusers writes it, with bare
 *   `NaN` / `Infinity` / `-Infinity`, which `JSON.parse` refuses; see {@link schedulerConfigJson}).
 * @param options - where warnings go.
 * @returns the scheduler, before `setTimesteps`.
 * @throws DifflibError naming `config._class_name` for a class difflib does not have, or
 *   `config.<key>` for a bad or unsupported value.
 *
 * @example
 * ```ts
 * const config = JSON.parse(readFileSync('scheduler/scheduler_config.json', 'utf8'));
 * const scheduler = schedulerFromConfig(config); // e.g. a PNDMScheduler for Stable Diffusion 1.5
 * scheduler.setTimesteps(25);
 * ```
 */
export function schedulerFromConfig(config: { _class_name: string; [key: string]: unknown } | string, options: SchedulerFromConfigOptions = {}): Scheduler {
  const fn = 'schedulerFromConfig';
  if (typeof config === 'string') config = parseConfigJson(fn, config) as { _class_name: string };
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'config', `must be a diffusers scheduler config object, got ${describeValue(config)}`);
  }
  const className = config._class_name;
  const entry = typeof className === 'string' && Object.hasOwn(SCHEDULER_CLASSES, className) ? SCHEDULER_CLASSES[className]! : undefined;
  if (entry === undefined) {
    throw new DifflibError(
      'UNKNOWN_OPTION',
      fn,
      'config._class_name',
      `must name a scheduler difflib has (${Object.keys(SCHEDULER_CLASSES).join(', ')}), got ${describeValue(className)}`,
    );
  }
  const warn = options.warn ?? ((message: string) => console.warn(message));
  return entry.create(optionsFromConfig(fn, className as string, entry.schema, entry.neutral, config, warn));
}

/**
 * A scheduler's config as the text of diffusers' `scheduler_config.json` (keys sorted,
 * non-finite numbers as Python's json module writes them), for diffusers to read — or
 * {@link schedulerFromConfig}, which reads it back exactly. `JSON.stringify(toConfig())`
 * would turn DPM-Solver's `lambda_min_clipped: -Infinity` into `null`.
 *
 * @param scheduler - any scheduler.
 * @returns the JSON text.
 *
 * @example
 * ```ts
 * writeFileSync('scheduler_config.json', schedulerConfigJson(new DPMSolverMultistepScheduler()));
 * ```
 */
export function schedulerConfigJson(scheduler: Scheduler): string {
  if (scheduler === null || typeof scheduler !== 'object' || typeof scheduler.toConfig !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', 'schedulerConfigJson', 'scheduler', `must be a Scheduler, got ${describeValue(scheduler)}`);
  }
  return stringifyConfigJson(scheduler.toConfig());
}
