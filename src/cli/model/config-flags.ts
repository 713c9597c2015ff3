// A U-Net config and a process, said in the CLI's flags: what a model file disagrees with,
// and the flags that would build it.
import type { GaussianDiffusion, ResolvedUNetConfig, UNetConfig } from '../../index';
import type { FlagValues } from '../flags/spec';
import { betasFromFlags, processTypesFromFlags, type unetConfigFromFlags } from './build';

type FlagsConfig = ReturnType<typeof unetConfigFromFlags>;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Python's spelling of a flag value, as a command line would give it. */
const py = (v: boolean | number | string): string => (typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v));

/** `--attention_resolutions` as image_size / factor, largest resolution first ("" for none). */
function attentionFlag(imageSize: number, factors: readonly number[]): string {
  return [...factors].sort((a, b) => a - b).map((ds) => imageSize / ds).join(',');
}

/**
 * The flags that build `config` (improved-diffusion's where they exist), e.g.
 * `--image_size 32 --num_channels 128 --num_res_blocks 3 …`, or a note naming what no
 * flag can express (input channels other than RGB, resampling without convs).
 */
export function flagsForUNetConfig(config: UNetConfig | ResolvedUNetConfig): string {
  const numHeadChannels = config.numHeadChannels ?? -1;
  const flags: [string, boolean | number | string][] = [
    ['image_size', config.imageSize],
    ['num_channels', config.modelChannels],
    ['num_res_blocks', config.numResBlocks],
    ['channel_mult', (config.channelMult ?? [1, 2, 4, 8]).join(',')],
    ['attention_resolutions', attentionFlag(config.imageSize, config.attentionResolutions)],
    ['learn_sigma', config.learnSigma ?? config.outChannels === 2 * config.inChannels],
    ['class_cond', config.numClasses != null],
    ...(config.numClasses != null ? ([['num_classes', config.numClasses]] as [string, number][]) : []),
    ...(numHeadChannels === -1 ? ([['num_heads', config.numHeads ?? 1]] as [string, number][]) : [['num_head_channels', numHeadChannels] as [string, number]]),
    ['num_heads_upsample', config.numHeadsUpsample ?? -1],
    ['use_scale_shift_norm', config.useScaleShiftNorm ?? false],
    ['resblock_updown', config.resblockUpdown ?? false],
    ['use_new_attention_order', config.useNewAttentionOrder ?? false],
  ];
  const text = flags.map(([name, value]) => `--${name} ${value === '' ? '""' : py(value)}`).join(' ');
  const inexpressible = [
    config.inChannels !== 3 ? `${config.inChannels} input channels (the CLI's images are RGB)` : '',
    config.convResample === false ? 'resampling without convolutions (convResample false)' : '',
  ].filter(Boolean);
  return inexpressible.length ? `${text} (but no flag gives ${inexpressible.join(' or ')})` : text;
}

/**
 * Where a model's U-Net config disagrees with the flags, one line per flag
 * (`--num_res_blocks: the model has 3, the flags give 2`). Dropout is not compared (a
 * state dict does not record it); heads only where they shape the attention.
 */
export function unetMismatches(model: ResolvedUNetConfig, flags: FlagsConfig): string[] {
  const out: string[] = [];
  const check = (flag: string, has: unknown, gives: unknown) => {
    if (!same(has, gives)) out.push(`--${flag}: the model has ${py(has as string)}, the flags give ${py(gives as string)}`);
  };
  check('image_size', model.imageSize, flags.imageSize);
  if (model.inChannels !== 3) out.push(`the model takes ${model.inChannels} input channels; the CLI's images are RGB (3)`);
  check('num_channels', model.modelChannels, flags.modelChannels);
  check('learn_sigma', model.outChannels === 6, flags.learnSigma);
  check('num_res_blocks', model.numResBlocks, flags.numResBlocks);
  check('channel_mult', model.channelMult.join(','), flags.channelMult.join(','));
  check('attention_resolutions', attentionFlag(model.imageSize, model.attentionResolutions), attentionFlag(flags.imageSize, flags.attentionResolutions));
  check('class_cond', model.numClasses !== null, flags.numClasses !== undefined);
  if (model.numClasses !== null && flags.numClasses !== undefined) check('num_classes', model.numClasses, flags.numClasses);
  check('num_head_channels', model.numHeadChannels, flags.numHeadChannels);
  if (model.numHeadChannels === -1 && flags.numHeadChannels === -1) {
    check('num_heads', model.numHeads, flags.numHeads);
    const up = (c: { numHeads: number; numHeadsUpsample: number }) => (c.numHeadsUpsample === -1 ? c.numHeads : c.numHeadsUpsample);
    check('num_heads_upsample', up(model), up(flags));
  }
  check('use_scale_shift_norm', model.useScaleShiftNorm, flags.useScaleShiftNorm);
  check('resblock_updown', model.resblockUpdown, flags.resblockUpdown);
  check('use_new_attention_order', model.useNewAttentionOrder, flags.useNewAttentionOrder);
  if (!model.convResample) out.push('the model resamples without convolutions (convResample false), which no flag gives');
  return out;
}

/**
 * Where a model file's process disagrees with the flags: T, the schedule (ᾱ at the
 * file's steps against the flags' schedule at the same original steps, so a respaced
 * process compares too), the mean and variance types, timestep rescaling and, when
 * asked (training), the loss.
 */
export function processMismatches(model: GaussianDiffusion, f: FlagValues, options: { loss: boolean }): string[] {
  const out: string[] = [];
  const T = f['diffusion_steps'] as number;
  if (model.originalNumTimesteps !== T) {
    out.push(`--diffusion_steps: the model's process has ${model.originalNumTimesteps}, the flags give ${T}`);
  } else {
    const betas = betasFromFlags(f);
    let alphaBar = 1;
    const flagAlphaBar = Float64Array.from(betas, (b) => (alphaBar *= 1 - b));
    const differs = Array.from(model.timestepMap).some((t, j) => Math.abs(model.alphasCumprod[j]! - flagAlphaBar[t]!) > 1e-9 * Math.max(1e-30, flagAlphaBar[t]!) + 1e-15);
    if (differs) out.push(`--noise_schedule: the model's process has another schedule than ${f['noise_schedule'] as string} over ${T} steps`);
  }
  const types = processTypesFromFlags(f);
  if (model.modelMeanType !== types.modelMeanType) {
    const expressible = model.modelMeanType === 'epsilon' || model.modelMeanType === 'start_x';
    out.push(
      expressible
        ? `--predict_xstart: the model's process predicts ${model.modelMeanType}, the flags say ${types.modelMeanType}`
        : `the model's process predicts ${model.modelMeanType}, which improved-diffusion's flags cannot ask for`,
    );
  }
  if (model.modelVarType !== types.modelVarType) {
    out.push(`--learn_sigma / --sigma_small: the model's process has variance ${model.modelVarType}, the flags give ${types.modelVarType}`);
  }
  if (model.rescaleTimesteps !== types.rescaleTimesteps) {
    out.push(`--rescale_timesteps: the model's process has ${py(model.rescaleTimesteps)}, the flags give ${py(types.rescaleTimesteps)}`);
  }
  if (options.loss && model.lossType !== types.lossType) {
    out.push(`--use_kl / --rescale_learned_sigmas: the model was trained with loss ${model.lossType}, the flags give ${types.lossType}`);
  }
  return out;
}
