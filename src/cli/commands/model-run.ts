// What `difflib sample` and `difflib nll` set up alike before their loops.
import type { GaussianDiffusion, UNet } from '../../index';
import { checkBackendFlags, startBackend } from '../backend';
import { runSeed, type CommandContext } from '../command';
import type { FlagValues } from '../flags/spec';
import { Logger, resolveLogDir } from '../log/logger';
import { diffusionFromFlags, unetConfigFromFlags } from '../model/build';
import { loadModelForFlags } from '../model/load';

/** A sampling or scoring run's seed, image size, process, log, backend and model. */
export interface ModelRun {
  seed: number;
  imageSize: number;
  diffusion: GaussianDiffusion;
  logger: Logger;
  /** The backend's description, for the log. */
  backend: string;
  unet: UNet;
}

/**
 * Checks the backend flags, takes the seed, builds the diffusion process from the flags,
 * opens the log, starts the backend, then loads `--model_path` (checked against the
 * flags) — in image_sample.py's and image_nll.py's order, so that a bad flag fails before
 * the backend starts.
 */
export async function startModelRun(name: string, f: FlagValues, ctx: CommandContext, modelPath: string): Promise<ModelRun> {
  checkBackendFlags(f['backend'] as string, f['threads'] as number | null);
  const seed = runSeed(f);
  const { imageSize } = unetConfigFromFlags(f);
  const diffusion = diffusionFromFlags(f);
  const logger = new Logger(resolveLogDir(f['log_dir'] as string, ctx.env), ctx.out, ctx.env);
  const backend = await startBackend(name, f['backend'] as string, f['threads'] as number | null);

  logger.log('creating model and diffusion...');
  const { unet } = await loadModelForFlags(name, 'model_path', modelPath, f, { loss: false });
  return { seed, imageSize, diffusion, logger, backend, unet };
}
