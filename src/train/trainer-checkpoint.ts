import * as tf from '@tensorflow/tfjs-core';
import type { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import type { GaussianDiffusionConfig } from '../diffusion/options';
import { DifflibError, describeValue } from '../errors';
import type { AdamW } from './adamw';
import type { Checkpoint, CheckpointTensor } from './checkpoint-store';
import type { EMA } from './ema';
import type { TimestepSampler } from '../timesteps/timestep-sampler';
import { resolveHyperparameters, type ResolvedHyperparameters, type TrainerHyperparameters } from './trainer-options';

const FORMAT = 'difflib-trainer';
/**
 * Version 2 records the sampler's state as `samplerState` (version 1: `resampler`, the
 * loss history of a `'loss-second-moment'` sampler) and the hyperparameters `labelKey`,
 * `minSnrGamma` and `labelDropout` (absent in version 1: their defaults).
 */
const VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];

/** The state a trainer checkpoints. @internal */
export interface TrainerParts {
  step: number;
  hyperparameters: ResolvedHyperparameters;
  diffusion: GaussianDiffusion;
  /** The model's `toConfig()`, stored so the run rebuilds from its files (null without one). */
  modelConfig: Record<string, unknown> | null;
  names: readonly string[];
  variables: readonly tf.Variable[];
  emas: readonly EMA[];
  optimizer: AdamW;
  sampler: TimestepSampler;
}

/** What must agree between a checkpoint and the process it resumes. */
interface DiffusionFingerprint {
  numTimesteps: number;
  originalNumTimesteps: number;
  modelMeanType: string;
  modelVarType: string;
  lossType: string;
  rescaleTimesteps: boolean;
  /** Σ β_t: tells schedules apart. */
  betasSum: number;
}

/** The JSON state file of a trainer checkpoint (as written; a version-1 file is read into it). */
interface TrainerState {
  format: typeof FORMAT;
  version: typeof VERSION;
  step: number;
  hyperparameters: ResolvedHyperparameters;
  diffusion: DiffusionFingerprint;
  /** The process's config, `GaussianDiffusion.fromConfig` rebuilds it (null in a version-1 file). */
  process: GaussianDiffusionConfig | null;
  /** The model's config (`UNet.fromConfig` for a U-Net), or null. */
  model: Record<string, unknown> | null;
  parameters: Array<{ name: string; shape: number[] }>;
  optimizerStep: number;
  /** The sampler's `state()`, or null for a sampler without one. */
  samplerState: unknown;
}

function fingerprint(diffusion: GaussianDiffusion): DiffusionFingerprint {
  return {
    numTimesteps: diffusion.numTimesteps,
    originalNumTimesteps: diffusion.originalNumTimesteps,
    modelMeanType: diffusion.modelMeanType,
    modelVarType: diffusion.modelVarType,
    lossType: diffusion.lossType,
    rescaleTimesteps: diffusion.rescaleTimesteps,
    betasSum: diffusion.betas.reduce((a, b) => a + b, 0),
  };
}

/** Tensor names: the live weights, each EMA, and the two moments. */
const modelKey = (name: string) => `model/${name}`;
const emaKey = (rate: number, name: string) => `ema_${rate}/${name}`;
const momentKey = (moment: 'm' | 'v', name: string) => `optimizer/${moment}/${name}`;

/** Reads the trainer's whole state to the host (one readback per tensor: the caller asked to save). @internal */
export async function captureCheckpoint(parts: TrainerParts): Promise<Checkpoint> {
  const tensors = new Map<string, CheckpointTensor>();
  const add = async (key: string, t: tf.Tensor) => {
    tensors.set(key, { shape: [...t.shape], data: (await t.data()) as Float32Array });
  };
  const { firstMoments, secondMoments } = parts.optimizer.getState();
  for (let i = 0; i < parts.names.length; i++) {
    const name = parts.names[i]!;
    await add(modelKey(name), parts.variables[i]!);
    for (const ema of parts.emas) await add(emaKey(ema.rate, name), ema.averages[i]!);
    await add(momentKey('m', name), firstMoments[i]!);
    await add(momentKey('v', name), secondMoments[i]!);
  }
  const state: TrainerState = {
    format: FORMAT,
    version: VERSION,
    step: parts.step,
    hyperparameters: parts.hyperparameters,
    diffusion: fingerprint(parts.diffusion),
    process: parts.diffusion.toConfig(),
    model: parts.modelConfig,
    parameters: parts.names.map((name, i) => ({ name, shape: [...parts.variables[i]!.shape] })),
    optimizerStep: parts.optimizer.step,
    samplerState: parts.sampler.state?.() ?? null,
  };
  return { tensors, state: state as unknown as Record<string, unknown> };
}

/** What a checkpoint is checked against: the trainer's hyperparameters, process and parameters. @internal */
export type CheckpointFit = Pick<TrainerParts, 'hyperparameters' | 'diffusion' | 'names' | 'variables'>;

/** The hyperparameters a checkpoint was trained with (for {@link Trainer.load}), checked. @internal */
export function checkpointHyperparameters(fn: string, checkpoint: Checkpoint): ResolvedHyperparameters {
  return checkState(fn, checkpoint).hyperparameters;
}

/** The type of each fingerprint field. */
const FINGERPRINT_TYPES: Record<keyof DiffusionFingerprint, 'number' | 'string' | 'boolean'> = {
  numTimesteps: 'number',
  originalNumTimesteps: 'number',
  modelMeanType: 'string',
  modelVarType: 'string',
  lossType: 'string',
  rescaleTimesteps: 'boolean',
  betasSum: 'number',
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;

/** `(runs/a/step-…/state.json) `: where a part of the checkpoint was read from, when its store says. */
function from(checkpoint: Checkpoint, part: 'tensors' | 'state'): string {
  const origin = checkpoint.origin?.[part];
  return typeof origin === 'string' ? `(${origin}) ` : '';
}

/**
 * Checks that a checkpoint is a trainer checkpoint of this format and a version this
 * code reads, and that every field of its state has its type (a damaged or hand-edited
 * file is refused here, before anything reads it).
 * @returns the state as version 2, its hyperparameters with defaults filled in.
 */
function checkState(fn: string, checkpoint: Checkpoint): TrainerState {
  if (!isRecord(checkpoint) || !(checkpoint.tensors instanceof Map) || !isRecord(checkpoint.state)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'checkpoint', `must be { tensors: Map, state: object } (what CheckpointStore.read returns), got ${describeValue(checkpoint)}`);
  }
  const state = checkpoint.state as Partial<Record<keyof TrainerState | 'resampler', unknown>>;
  const damaged = (what: string) => new DifflibError('INVALID_ARGUMENT', fn, 'checkpoint', `${from(checkpoint, 'state')}${what}`);
  if (state.format !== FORMAT || !READABLE_VERSIONS.includes(state.version as number)) {
    throw damaged(`is not a ${FORMAT} checkpoint of version ${READABLE_VERSIONS.join(' or ')} (format ${describeValue(state.format)}, version ${describeValue(state.version)})`);
  }
  for (const key of ['step', 'optimizerStep'] as const) {
    if (!isCount(state[key])) throw damaged(`has ${key} ${describeValue(state[key])}; expected a non-negative integer`);
  }
  if (!isRecord(state.hyperparameters)) throw damaged(`has hyperparameters ${describeValue(state.hyperparameters)}; expected an object`);
  let hyperparameters: ResolvedHyperparameters;
  try {
    hyperparameters = resolveHyperparameters(fn, state.hyperparameters as unknown as TrainerHyperparameters);
  } catch (e) {
    if (!(e instanceof DifflibError)) throw e;
    throw damaged(`has a bad ${e.argument.replace(/^options\./, 'hyperparameters.')}: ${e.detail}`);
  }
  const diffusion = state.diffusion;
  if (!isRecord(diffusion)) throw damaged(`has diffusion ${describeValue(diffusion)}; expected the process fingerprint object`);
  for (const [key, type] of Object.entries(FINGERPRINT_TYPES)) {
    if (typeof diffusion[key] !== type) throw damaged(`has diffusion.${key} ${describeValue(diffusion[key])}; expected a ${type}`);
  }
  if (!Array.isArray(state.parameters)) throw damaged(`has parameters ${describeValue(state.parameters)}; expected an array`);
  state.parameters.forEach((p: unknown, i) => {
    if (!isRecord(p) || typeof p['name'] !== 'string' || !Array.isArray(p['shape']) || !p['shape'].every(isCount)) {
      throw damaged(`has parameters[${i}] ${describeValue(isRecord(p) ? [p['name'], p['shape']] : p)}; expected { name: string, shape: non-negative integers }`);
    }
  });
  if (state.version === 1) {
    if (state.resampler !== null && !isRecord(state.resampler)) {
      throw damaged(`has resampler ${describeValue(state.resampler)}; expected null or a loss history object`);
    }
    return { ...(state as TrainerState), version: VERSION, hyperparameters, samplerState: state.resampler, process: null, model: null };
  }
  if (state.samplerState === undefined) throw damaged('has no samplerState; expected null or the timestep sampler\'s state');
  if (!isRecord(state.process)) throw damaged(`has process ${describeValue(state.process)}; expected the process config (GaussianDiffusion.toConfig())`);
  if (state.model !== null && !isRecord(state.model)) throw damaged(`has model ${describeValue(state.model)}; expected null or the model config`);
  return { ...(state as TrainerState), hyperparameters };
}

/**
 * Checks that a checkpoint is whole (see {@link checkState}) and fits a trainer: the
 * same parameters and shapes, EMA rates, sampler and process, and every tensor
 * present and float32 of its parameter's shape. Makes no tensor and changes nothing.
 * @returns the checked state.
 * @internal
 */
export function checkCheckpoint(fn: string, fit: CheckpointFit, checkpoint: Checkpoint): TrainerState {
  const state = checkState(fn, checkpoint);
  const mismatch = (part: 'tensors' | 'state', what: string, expected: unknown, got: unknown) =>
    new DifflibError(
      'SHAPE_MISMATCH',
      fn,
      'checkpoint',
      `${from(checkpoint, part)}does not fit this trainer: ${what} is ${JSON.stringify(got)} in the checkpoint but ${JSON.stringify(expected)} here`,
    );

  const expectedParameters = fit.names.map((name, i) => ({ name, shape: [...fit.variables[i]!.shape] }));
  if (JSON.stringify(state.parameters.map(({ name, shape }) => ({ name, shape }))) !== JSON.stringify(expectedParameters)) {
    const have = new Map(expectedParameters.map((p) => [p.name, p.shape.join(',')]));
    const differing = state.parameters.filter((p) => have.get(p.name) !== p.shape.join(',')).map((p) => `${p.name} [${p.shape}]`);
    throw mismatch('state', 'the parameter list', `${expectedParameters.length} parameters`, `${state.parameters.length} parameters, differing: ${differing.slice(0, 5).join(', ') || 'the order'}`);
  }
  const here = fingerprint(fit.diffusion);
  for (const key of Object.keys(here) as Array<keyof DiffusionFingerprint>) {
    const ok = key === 'betasSum' ? Math.abs(state.diffusion[key] - here[key]) <= 1e-12 * here[key] : state.diffusion[key] === here[key];
    if (!ok) throw mismatch('state', `diffusion.${key}`, here[key], state.diffusion[key]);
  }
  const h = state.hyperparameters;
  const mine = fit.hyperparameters;
  if (JSON.stringify(h.emaRates) !== JSON.stringify(mine.emaRates)) throw mismatch('state', 'emaRates', mine.emaRates, h.emaRates);
  if (h.emaWarmup !== mine.emaWarmup) throw mismatch('state', 'emaWarmup', mine.emaWarmup, h.emaWarmup);
  if (h.scheduleSampler !== mine.scheduleSampler) throw mismatch('state', 'scheduleSampler', mine.scheduleSampler, h.scheduleSampler);

  const expectedKeys = fit.names.flatMap((name) => tensorKeys(name, mine.emaRates));
  const missing = expectedKeys.filter((key) => !checkpoint.tensors.has(key));
  const unexpected = [...checkpoint.tensors.keys()].filter((key) => !expectedKeys.includes(key));
  if (missing.length || unexpected.length) {
    throw mismatch('tensors', 'the tensor list', `${expectedKeys.length} tensors`, `missing ${missing.slice(0, 5).join(', ') || 'none'}; unexpected ${unexpected.slice(0, 5).join(', ') || 'none'}`);
  }
  fit.names.forEach((name, i) => {
    const shape = fit.variables[i]!.shape;
    for (const key of tensorKeys(name, mine.emaRates)) {
      const t: Partial<CheckpointTensor> | null = checkpoint.tensors.get(key)!;
      const fits = isRecord(t) && Array.isArray(t.shape) && tf.util.arraysEqual(t.shape, shape) && t.data instanceof Float32Array && t.data.length === tf.util.sizeFromShape(shape);
      if (!fits) throw mismatch('tensors', `tensor "${key}"`, `float32 [${shape}]`, `[${t?.shape}] with ${t?.data?.length} values`);
    }
  });
  return state;
}

/** A parameter's tensor names: its weights, each EMA, and the two moments. */
function tensorKeys(name: string, emaRates: readonly number[]): string[] {
  return [modelKey(name), ...emaRates.map((rate) => emaKey(rate, name)), momentKey('m', name), momentKey('v', name)];
}

/**
 * Checks a checkpoint (see {@link checkCheckpoint}), hands the sampler its state (its
 * `loadState` checks the state whole before changing anything), and only then loads
 * every tensor, which can no longer fail. Nothing is changed when a check fails.
 * @returns the step to continue from.
 * @internal
 */
export function restoreCheckpoint(fn: string, parts: TrainerParts, checkpoint: Checkpoint): number {
  const state = checkCheckpoint(fn, parts, checkpoint);
  restoreSampler(fn, parts.sampler, state.samplerState, checkpoint);
  const load = (key: string): tf.Tensor => {
    const t = checkpoint.tensors.get(key)!;
    return tf.tensor(t.data, t.shape, 'float32');
  };
  tf.tidy(() => {
    parts.names.forEach((name, i) => parts.variables[i]!.assign(load(modelKey(name))));
    for (const ema of parts.emas) {
      ema.setAverages(parts.names.map((name) => load(emaKey(ema.rate, name))));
      ema.updates = state.step; // one EMA update per step
    }
    parts.optimizer.setState({
      step: state.optimizerStep,
      firstMoments: parts.names.map((name) => load(momentKey('m', name))),
      secondMoments: parts.names.map((name) => load(momentKey('v', name))),
    });
  });
  return state.step;
}

/** Gives a sampler with `loadState` the checkpoint's state; refuses a state for a sampler without one. */
function restoreSampler(fn: string, sampler: TimestepSampler, samplerState: unknown, checkpoint: Checkpoint): void {
  const misfit = (what: string) => new DifflibError('SHAPE_MISMATCH', fn, 'checkpoint', `${from(checkpoint, 'state')}does not fit this trainer: ${what}`);
  if (!sampler.loadState) {
    if (samplerState !== null) throw misfit(`it holds a timestep sampler state but this trainer's sampler has no loadState`);
    return;
  }
  try {
    sampler.loadState(samplerState);
  } catch (e) {
    if (!(e instanceof DifflibError)) throw e;
    throw misfit(`its timestep sampler state ${e.detail}`);
  }
}
