import * as tf from '@tensorflow/tfjs-core';
import type { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import { DifflibError, describeValue } from '../errors';
import type { AdamW } from './adamw';
import type { Checkpoint, CheckpointTensor } from './checkpoint-store';
import type { EMA } from './ema';
import { LossSecondMomentResampler, type LossHistoryState } from '../samplers/loss-second-moment-resampler';
import type { ResolvedHyperparameters, TrainerHyperparameters } from './trainer-options';

const FORMAT = 'difflib-trainer';
const VERSION = 1;

/** The state a trainer checkpoints. @internal */
export interface TrainerParts {
  step: number;
  hyperparameters: ResolvedHyperparameters;
  diffusion: GaussianDiffusion;
  names: readonly string[];
  variables: readonly tf.Variable[];
  emas: readonly EMA[];
  optimizer: AdamW;
  resampler: LossSecondMomentResampler | null;
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

/** The JSON state file of a trainer checkpoint. */
interface TrainerState {
  format: typeof FORMAT;
  version: typeof VERSION;
  step: number;
  hyperparameters: ResolvedHyperparameters;
  diffusion: DiffusionFingerprint;
  parameters: Array<{ name: string; shape: number[] }>;
  optimizerStep: number;
  resampler: LossHistoryState | null;
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
    parameters: parts.names.map((name, i) => ({ name, shape: [...parts.variables[i]!.shape] })),
    optimizerStep: parts.optimizer.step,
    resampler: parts.resampler ? parts.resampler.state() : null,
  };
  return { tensors, state: state as unknown as Record<string, unknown> };
}

/** The hyperparameters a checkpoint was trained with (for {@link Trainer.load}). @internal */
export function checkpointHyperparameters(fn: string, checkpoint: Checkpoint): TrainerHyperparameters {
  return checkState(fn, checkpoint).hyperparameters;
}

function checkState(fn: string, checkpoint: Checkpoint): TrainerState {
  const state = checkpoint?.state as Partial<TrainerState> | undefined;
  if (!state || state.format !== FORMAT || state.version !== VERSION) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'checkpoint', `is not a ${FORMAT} checkpoint of version ${VERSION} (format ${describeValue(state?.format)}, version ${describeValue(state?.version)})`);
  }
  return state as TrainerState;
}

/**
 * Checks that a checkpoint fits the trainer (same parameters, EMA rates, sampler and
 * process) and, only then, loads every tensor and the sampler history into it.
 * Nothing is changed when a check fails.
 * @returns the step to continue from.
 * @internal
 */
export function restoreCheckpoint(fn: string, parts: TrainerParts, checkpoint: Checkpoint): number {
  const state = checkState(fn, checkpoint);
  const mismatch = (what: string, expected: unknown, got: unknown) =>
    new DifflibError('SHAPE_MISMATCH', fn, 'checkpoint', `does not fit this trainer: ${what} is ${JSON.stringify(got)} in the checkpoint but ${JSON.stringify(expected)} here`);

  const expectedParameters = parts.names.map((name, i) => ({ name, shape: [...parts.variables[i]!.shape] }));
  if (JSON.stringify(state.parameters) !== JSON.stringify(expectedParameters)) {
    const have = new Map(expectedParameters.map((p) => [p.name, p.shape.join(',')]));
    const differing = (state.parameters ?? []).filter((p) => have.get(p.name) !== p.shape?.join(',')).map((p) => p.name);
    throw mismatch('the parameter list', `${expectedParameters.length} parameters`, `${state.parameters?.length} parameters, differing: ${differing.slice(0, 5).join(', ')}`);
  }
  const here = fingerprint(parts.diffusion);
  for (const key of Object.keys(here) as Array<keyof DiffusionFingerprint>) {
    const ok = key === 'betasSum' ? Math.abs(state.diffusion?.[key] - here[key]) <= 1e-12 * here[key] : state.diffusion?.[key] === here[key];
    if (!ok) throw mismatch(`diffusion.${key}`, here[key], state.diffusion?.[key]);
  }
  const h = state.hyperparameters;
  if (JSON.stringify(h?.emaRates) !== JSON.stringify(parts.hyperparameters.emaRates)) {
    throw mismatch('emaRates', parts.hyperparameters.emaRates, h?.emaRates);
  }
  if ((h?.emaWarmup ?? false) !== parts.hyperparameters.emaWarmup) {
    throw mismatch('emaWarmup', parts.hyperparameters.emaWarmup, h?.emaWarmup ?? false);
  }
  if (h?.scheduleSampler !== parts.hyperparameters.scheduleSampler) {
    throw mismatch('scheduleSampler', parts.hyperparameters.scheduleSampler, h?.scheduleSampler);
  }
  if (parts.resampler && !(state.resampler && fitsResampler(parts.resampler, state.resampler))) {
    throw mismatch('the loss history (T × historyPerTerm)', `${parts.resampler.numTimesteps} × ${parts.resampler.historyPerTerm}`, 'another size');
  }
  if (!Number.isInteger(state.step) || state.step < 0 || !Number.isInteger(state.optimizerStep) || state.optimizerStep < 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'checkpoint', `has step ${describeValue(state.step)} / optimizer step ${describeValue(state.optimizerStep)}; expected non-negative integers`);
  }

  const expectedKeys: string[] = [];
  parts.names.forEach((name) => {
    expectedKeys.push(modelKey(name), ...parts.emas.map((e) => emaKey(e.rate, name)), momentKey('m', name), momentKey('v', name));
  });
  const missing = expectedKeys.filter((key) => !checkpoint.tensors.has(key));
  const unexpected = [...checkpoint.tensors.keys()].filter((key) => !expectedKeys.includes(key));
  if (missing.length || unexpected.length) {
    throw mismatch('the tensor list', `${expectedKeys.length} tensors`, `missing ${missing.slice(0, 5).join(', ') || 'none'}; unexpected ${unexpected.slice(0, 5).join(', ') || 'none'}`);
  }
  parts.names.forEach((name, i) => {
    const shape = parts.variables[i]!.shape;
    for (const key of [modelKey(name), ...parts.emas.map((e) => emaKey(e.rate, name)), momentKey('m', name), momentKey('v', name)]) {
      const t = checkpoint.tensors.get(key)!;
      if (!tf.util.arraysEqual(t.shape, shape) || !(t.data instanceof Float32Array) || t.data.length !== tf.util.sizeFromShape(shape)) {
        throw mismatch(`tensor "${key}"`, `float32 [${shape}]`, `[${t.shape}] with ${t.data?.length} values`);
      }
    }
  });

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
  if (parts.resampler) parts.resampler.loadState(state.resampler!);
  return state.step;
}

/** Whether a stored loss history fits the sampler (checked on a scratch copy, so nothing changes). */
function fitsResampler(sampler: LossSecondMomentResampler, history: LossHistoryState): boolean {
  const scratch = new LossSecondMomentResampler(sampler.numTimesteps, {
    historyPerTerm: sampler.historyPerTerm,
    uniformProb: sampler.uniformProb,
  });
  try {
    scratch.loadState(history);
    return true;
  } catch {
    return false;
  }
}
