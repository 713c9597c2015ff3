// Where `difflib train` writes, named as improved-diffusion's TrainLoop.save names its .pt files.
import path from 'node:path';
import { reprFloat } from './log/py-format';

const step6 = (step: number) => String(step).padStart(6, '0');

/** `model{step:06d}.safetensors`: the weights after `step` steps, a difflib model file. */
export const modelFileName = (step: number): string => `model${step6(step)}.safetensors`;

/**
 * `ema_{rate}_{step:06d}.safetensors`: the EMA weights at `rate`, a difflib model file
 * (`extension` `.pt` names improved-diffusion's own, which a resumed run also reads).
 */
export const emaFileName = (rate: number, step: number, extension = '.safetensors'): string => `ema_${reprFloat(rate)}_${step6(step)}${extension}`;

/**
 * `opt{step:06d}/`: the Trainer's checkpoint directory (weights, EMAs, AdamW moments,
 * sampler history, step, seed and hyperparameters), what a resumed run continues from.
 */
export const optDirName = (step: number): string => `opt${step6(step)}`;

/**
 * improved-diffusion's parse_resume_step_from_filename: the number after the last
 * `model` in the path, before the next `.` (`…/model000200.safetensors` → 200); 0 when
 * there is none.
 */
export function parseResumeStep(file: string): number {
  const parts = file.split('model');
  if (parts.length < 2) return 0;
  const digits = parts[parts.length - 1]!.split('.')[0]!;
  return /^\s*[+-]?\d+\s*$/.test(digits) ? Number(digits) : 0;
}

/** The files of a checkpoint at `step` in `dir`; EMA files with `extension`. */
export function checkpointPaths(dir: string, step: number, emaRates: readonly number[], extension = '.safetensors') {
  return {
    model: path.join(dir, modelFileName(step)),
    emas: emaRates.map((rate) => ({ rate, file: path.join(dir, emaFileName(rate, step, extension)) })),
    opt: path.join(dir, optDirName(step)),
  };
}
