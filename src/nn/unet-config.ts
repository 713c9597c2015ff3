import { DifflibError, describeValue } from '../errors';
import { checkInteger } from '../validate';

/**
 * The knobs of ADM's `UNetModel` (improved-diffusion / guided-diffusion), camelCased.
 * Defaults follow guided-diffusion's constructor.
 */
export interface UNetConfig {
  /** Side of the (square) input images; must be divisible by 2^(levels − 1). */
  imageSize: number;
  /** Channels of the input images (3 for RGB). */
  inChannels: number;
  /** Base channel count; level i has modelChannels · channelMult[i]. */
  modelChannels: number;
  /** Output channels: C for fixed variances, 2C for learned (mean part, then variance part). */
  outChannels: number;
  /** Residual blocks per level. */
  numResBlocks: number;
  /** Downsample factors (1, 2, 4, …) at which self-attention follows each block. */
  attentionResolutions: readonly number[];
  /** Dropout rate inside residual blocks (active only when training). Default 0. */
  dropout?: number;
  /** Channel multiplier per level. Default [1, 2, 4, 8]. */
  channelMult?: readonly number[];
  /** Resample with a 3×3 conv (true) or by pooling / plain nearest upsampling. Default true. */
  convResample?: boolean;
  /** Number of classes for a class-conditional model (a label embedding); absent: unconditional. */
  numClasses?: number;
  /** Attention heads (used when numHeadChannels is −1). Default 1. */
  numHeads?: number;
  /** Channels per head; overrides numHeads when not −1. Default −1. */
  numHeadChannels?: number;
  /** Heads in the upsampling path; −1 means numHeads. Default −1. */
  numHeadsUpsample?: number;
  /** Inject the time embedding as GroupNorm scale and shift (guided-diffusion). Default false. */
  useScaleShiftNorm?: boolean;
  /** Resample inside residual blocks (BigGAN style) instead of separate layers. Default false. */
  resblockUpdown?: boolean;
  /** qkv layout [(q|k|v), head, ch] (true) or legacy [head, (q|k|v), ch]. Default false. */
  useNewAttentionOrder?: boolean;
  /**
   * The model also predicts the variance (guided-diffusion's `learn_sigma`): its
   * outChannels are split in two halves, mean part then variance part, so they must
   * be even. Default false.
   */
  learnSigma?: boolean;
}

/** {@link UNetConfig} with every default filled in. */
export type ResolvedUNetConfig = Required<Omit<UNetConfig, 'numClasses'>> & {
  /** Number of classes, or null for an unconditional model. */
  numClasses: number | null;
};

/** GroupNorm groups in every ADM `normalization` layer. */
export const NORM_GROUPS = 32;

/**
 * Fills defaults and checks a U-Net configuration, so a bad one fails at
 * construction rather than deep inside tfjs.
 * @internal
 */
export function resolveUNetConfig(config: UNetConfig): ResolvedUNetConfig {
  const fn = 'createUNet';
  if (!config || typeof config !== 'object') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'config', `must be a UNetConfig object, got ${describeValue(config)}`);
  }
  const c: ResolvedUNetConfig = {
    dropout: 0,
    channelMult: [1, 2, 4, 8],
    convResample: true,
    numHeads: 1,
    numHeadChannels: -1,
    numHeadsUpsample: -1,
    useScaleShiftNorm: false,
    resblockUpdown: false,
    useNewAttentionOrder: false,
    learnSigma: false,
    ...config,
    numClasses: config.numClasses ?? null,
  };
  const positiveInt = (arg: keyof UNetConfig, v: unknown) => checkInteger(fn, `config.${arg}`, v, { min: 1 });
  for (const arg of ['imageSize', 'inChannels', 'modelChannels', 'outChannels', 'numResBlocks'] as const) positiveInt(arg, c[arg]);
  if (c.numClasses !== null) positiveInt('numClasses', c.numClasses);
  if (!Array.isArray(c.channelMult) || c.channelMult.length === 0) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'config.channelMult', `must be a non-empty array of positive integers, got ${describeValue(c.channelMult)}`);
  }
  c.channelMult.forEach((m) => positiveInt('channelMult', m));
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'config.dropout', `must lie in [0, 1), got ${describeValue(c.dropout)}`);
  }
  if (c.learnSigma && c.outChannels % 2 !== 0) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'config.outChannels',
      `must be even with learnSigma (mean part, then variance part: 2 × ${c.inChannels} = ${2 * c.inChannels} for these images), got ${c.outChannels}`,
    );
  }
  const levels = c.channelMult.length;
  const factor = 2 ** (levels - 1);
  if (c.imageSize % factor !== 0) {
    throw new DifflibError(
      'INVALID_ARGUMENT',
      fn,
      'config.imageSize',
      `must be divisible by 2^(levels − 1) = ${factor} for ${levels} levels, got ${c.imageSize}`,
    );
  }
  const factors = Array.from({ length: levels }, (_, i) => 2 ** i);
  if (!Array.isArray(c.attentionResolutions)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'config.attentionResolutions', `must be an array of downsample factors, got ${describeValue(c.attentionResolutions)}`);
  }
  for (const r of c.attentionResolutions) {
    if (!factors.includes(r)) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'config.attentionResolutions',
        `holds downsample factors, which are ${factors.join(', ')} for ${levels} levels, got ${describeValue(r)} ` +
          '(factors, not resolutions: attention at 16×16 in a 64×64 model is factor 4)',
      );
    }
  }
  if (c.numHeadChannels === -1) positiveInt('numHeads', c.numHeads);
  else positiveInt('numHeadChannels', c.numHeadChannels);
  if (c.numHeadsUpsample !== -1) positiveInt('numHeadsUpsample', c.numHeadsUpsample);
  // Every GroupNorm and attention layer must divide its channels.
  for (const mult of c.channelMult) {
    const ch = c.modelChannels * mult;
    if (ch % NORM_GROUPS !== 0) {
      throw new DifflibError(
        'INVALID_ARGUMENT',
        fn,
        'config.modelChannels',
        `× channelMult must be a multiple of the ${NORM_GROUPS} GroupNorm groups, got ${c.modelChannels} × ${mult} = ${ch}`,
      );
    }
  }
  // Attention at the chosen factors, and always in the middle block (last level).
  const attended = c.channelMult
    .map((mult, i) => ({ ch: c.modelChannels * mult, where: `at factor ${2 ** i}`, on: c.attentionResolutions.includes(2 ** i) }))
    .filter((a) => a.on);
  attended.push({ ch: c.modelChannels * c.channelMult[levels - 1]!, where: 'in the middle block', on: true });
  for (const { ch, where } of attended) {
    if (c.numHeadChannels !== -1 && ch % c.numHeadChannels !== 0) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'config.numHeadChannels', `must divide the ${ch} channels of the attention ${where}, got ${c.numHeadChannels}`);
    }
    for (const [arg, heads] of [
      ['numHeads', attentionHeads(c, ch, false)],
      ['numHeadsUpsample', attentionHeads(c, ch, true)],
    ] as const) {
      if (ch % heads !== 0) {
        throw new DifflibError('INVALID_ARGUMENT', fn, `config.${arg}`, `must divide the ${ch} channels of the attention ${where}, got ${heads}`);
      }
    }
  }
  return c;
}

/** Heads of an attention block with `channels` channels (guided-diffusion's rule). @internal */
export function attentionHeads(c: ResolvedUNetConfig, channels: number, upsampling: boolean): number {
  if (c.numHeadChannels !== -1) return channels / c.numHeadChannels;
  return upsampling && c.numHeadsUpsample !== -1 ? c.numHeadsUpsample : c.numHeads;
}
