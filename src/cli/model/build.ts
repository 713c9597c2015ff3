// improved-diffusion's script_util.create_model_and_diffusion, from the flags to difflib's
// createUNet config and GaussianDiffusion.
import {
  BETA_SCHEDULE_NAMES,
  DifflibError,
  GaussianDiffusion,
  namedBetaSchedule,
  type BetaScheduleName,
  type LossType,
  type ModelMeanType,
  type ModelVarType,
  type UNetConfig,
} from '../../index';
import type { FlagValues } from '../flags/spec';
import { CliUsageError } from '../usage-error';

/** create_model's channel_mult by image size (guided-diffusion's table, which adds 128). */
const CHANNEL_MULT: Readonly<Record<number, readonly number[]>> = {
  256: [1, 1, 2, 2, 4, 4],
  128: [1, 1, 2, 3, 4],
  64: [1, 2, 3, 4],
  32: [1, 2, 2, 2],
};

/** A comma-separated list of positive integers, or a usage error naming the flag. */
function integerList(flag: string, text: string): number[] {
  return text.split(',').map((part) => {
    if (!/^\s*\d+\s*$/.test(part) || Number(part) === 0) {
      throw new CliUsageError(`argument --${flag}: expects positive integers separated by commas, got '${text}'`);
    }
    return Number(part);
  });
}

/**
 * The U-Net `create_model` builds: RGB in, 3 channels out (6 with `learn_sigma`),
 * channel_mult from `--channel_mult` or by image size, attention at the downsample
 * factors image_size / resolution (factors no level reaches are left out, as UNetModel
 * never meets them), `num_classes` classes with `class_cond`.
 *
 * @param f - the parsed flags.
 * @returns every key of the config, so a model file's config can be compared with it.
 * @throws CliUsageError naming the flag for an image size without a channel_mult, or a malformed list.
 */
export function unetConfigFromFlags(f: FlagValues): Required<Omit<UNetConfig, 'numClasses'>> & Pick<UNetConfig, 'numClasses'> {
  const imageSize = f['image_size'] as number;
  if (imageSize < 1) throw new CliUsageError(`argument --image_size: must be a positive integer, got ${imageSize}`);
  const given = f['channel_mult'] as string;
  const channelMult = given !== '' ? integerList('channel_mult', given) : CHANNEL_MULT[imageSize];
  if (!channelMult) {
    throw new CliUsageError(
      `argument --image_size: improved-diffusion builds U-Nets for 32, 64 and 256 pixels (guided-diffusion also 128), got ${imageSize}; ` +
        'give the levels with --channel_mult (e.g. --channel_mult 1,2 for a small model)',
    );
  }
  const levels = channelMult.length;
  const attention = (f['attention_resolutions'] as string).trim();
  const factors = attention === '' ? [] : integerList('attention_resolutions', attention).map((res) => Math.floor(imageSize / res));
  const reached = new Set(Array.from({ length: levels }, (_, i) => 2 ** i));
  const learnSigma = f['learn_sigma'] as boolean;
  return {
    imageSize,
    inChannels: 3,
    modelChannels: f['num_channels'] as number,
    outChannels: learnSigma ? 6 : 3,
    numResBlocks: f['num_res_blocks'] as number,
    attentionResolutions: [...new Set(factors.filter((ds) => reached.has(ds)))].sort((a, b) => a - b),
    dropout: f['dropout'] as number,
    channelMult,
    convResample: true,
    ...(f['class_cond'] ? { numClasses: f['num_classes'] as number } : {}),
    numHeads: f['num_heads'] as number,
    numHeadChannels: f['num_head_channels'] as number,
    numHeadsUpsample: f['num_heads_upsample'] as number,
    useScaleShiftNorm: f['use_scale_shift_norm'] as boolean,
    resblockUpdown: f['resblock_updown'] as boolean,
    useNewAttentionOrder: f['use_new_attention_order'] as boolean,
    learnSigma,
  };
}

/** The parameterisation `create_gaussian_diffusion` picks from the flags. */
export interface ProcessTypes {
  modelMeanType: ModelMeanType;
  modelVarType: ModelVarType;
  lossType: LossType;
  rescaleTimesteps: boolean;
}

/** create_gaussian_diffusion's mean, variance and loss types from the flags. */
export function processTypesFromFlags(f: FlagValues): ProcessTypes {
  return {
    modelMeanType: f['predict_xstart'] ? 'start_x' : 'epsilon',
    modelVarType: f['learn_sigma'] ? 'learned_range' : f['sigma_small'] ? 'fixed_small' : 'fixed_large',
    lossType: f['use_kl'] ? 'rescaled_kl' : f['rescale_learned_sigmas'] ? 'rescaled_mse' : 'mse',
    rescaleTimesteps: f['rescale_timesteps'] as boolean,
  };
}

/** β_0 … β_{T−1} of `--noise_schedule` over `--diffusion_steps`. */
export function betasFromFlags(f: FlagValues): Float64Array {
  const name = f['noise_schedule'] as string;
  if (!(BETA_SCHEDULE_NAMES as readonly string[]).includes(name)) {
    throw new CliUsageError(`argument --noise_schedule: must be one of ${BETA_SCHEDULE_NAMES.join(', ')}, got '${name}'`);
  }
  return asUsage('diffusion_steps', () => namedBetaSchedule(name as BetaScheduleName, f['diffusion_steps'] as number));
}

/**
 * create_gaussian_diffusion: the named schedule over `diffusion_steps`, respaced by
 * `timestep_respacing` (improved-diffusion's SpacedDiffusion) unless `respace` is false.
 *
 * @throws CliUsageError naming the flag the process refuses (a linear schedule with
 *   fewer than 20 steps has β > 1; a respacing that does not fit T).
 */
export function diffusionFromFlags(f: FlagValues, options: { respace?: boolean } = {}): GaussianDiffusion {
  const betas = betasFromFlags(f);
  const respacing = (f['timestep_respacing'] as string).trim();
  const types = processTypesFromFlags(f);
  const full = asUsage('diffusion_steps', () => new GaussianDiffusion({ betas, ...types }), `with --noise_schedule ${f['noise_schedule'] as string}`);
  if (options.respace === false || respacing === '') return full;
  return asUsage('timestep_respacing', () => full.respace(respacing));
}

/** Runs `body`, turning a DifflibError into a usage error about `flag`. */
export function asUsage<T>(flag: string, body: () => T, context = ''): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof DifflibError) throw new CliUsageError(`argument --${flag}${context ? ` ${context}` : ''}: ${e.message}`);
    throw e;
  }
}
