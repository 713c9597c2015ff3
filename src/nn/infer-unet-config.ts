import { DifflibError, describeValue } from '../errors';
import { inferUNetStructure } from './infer-unet-structure';
import { attentionHeads, resolveUNetConfig, type ResolvedUNetConfig, type UNetConfig } from './unet-config';

/** One entry of a state dict; only its PyTorch `shape` is read. */
export interface StateDictEntry {
  /** PyTorch shape: conv OIHW, linear [out, in], the attention's 1-D convs [out, in, 1]. */
  readonly shape: readonly number[];
}

/**
 * Names and shapes of a PyTorch state dict, in any of the forms difflib's readers give:
 * a `Map` or a plain object of name → `{ shape }` (a `readTorchCheckpoint` result, or
 * JSON written from Python), or `readSafetensors`' result (its `tensors` are read).
 */
export type StateDictShapes =
  | ReadonlyMap<string, StateDictEntry>
  | Readonly<Record<string, StateDictEntry>>
  | {
      /** The tensors by name, as `readSafetensors` returns them. */
      readonly tensors: ReadonlyMap<string, StateDictEntry>;
    };

/** What the weights of a U-Net cannot decide: see {@link inferUNetConfig}. */
export interface UNetConfigHints {
  /** Side of the training images. Required: convolutions and attention run at any size. */
  imageSize?: number;
  /** Attention heads. This or `numHeadChannels` is required: `qkv` is [3C, C, 1] for any count. */
  numHeads?: number;
  /** Channels per head (overrides numHeads when not −1). */
  numHeadChannels?: number;
  /** Heads in the upsampling path; default −1 (as numHeads). */
  numHeadsUpsample?: number;
  /** qkv channel order; required when some attention layer has more than one head. */
  useNewAttentionOrder?: boolean;
  /** Dropout rate inside residual blocks (matters only for training); default 0. */
  dropout?: number;
  /** Whether outChannels hold a variance part; default: outChannels = 2 · inChannels. */
  learnSigma?: boolean;
  /** Only where no layer resamples with a conv of its own (one level, or resblockUpdown); default true. */
  convResample?: boolean;
}

const HINTS: readonly (keyof UNetConfigHints)[] = [
  'imageSize',
  'numHeads',
  'numHeadChannels',
  'numHeadsUpsample',
  'useNewAttentionOrder',
  'dropout',
  'learnSigma',
  'convResample',
];
const BOOLEAN_HINTS = new Set<keyof UNetConfigHints>(['useNewAttentionOrder', 'learnSigma', 'convResample']);

/**
 * The {@link createUNet} configuration of an improved-diffusion / guided-diffusion
 * `UNetModel`, read from its state dict's names and shapes (no tensor is made, no value
 * read), so a released checkpoint loads without its training flags:
 *
 * - `inChannels`, `modelChannels`: `input_blocks.0.0.weight` [C, inChannels, 3, 3] and
 *   `time_embed.0.weight` [4C, C]; `outChannels`: `out.2.weight`.
 * - `channelMult[i]` = channels of level i's ResBlocks / C; `numResBlocks` = ResBlocks per
 *   level (the input blocks between resampling blocks).
 * - `attentionResolutions`: the downsample factors 2^i of the levels whose blocks hold
 *   attention (`input_blocks.k.1.qkv`). The scripts' `--attention_resolutions` flag is in
 *   pixels (`16,8` at 32 px); `UNetModel` gets `image_size // res` (2, 4), which is what this returns.
 * - `numClasses`: rows of `label_emb.weight`; `useScaleShiftNorm`: `emb_layers.1` projects to
 *   2 × the block's channels; `resblockUpdown`: the resampling blocks are ResBlocks;
 *   `convResample`: `input_blocks.k.0.op.weight` (a stride-2 conv) rather than an
 *   average pooling, which has no weights.
 * - `learnSigma`: `hints.learnSigma`, else outChannels = 2 · inChannels (the scripts'
 *   `out_channels = 6 if learn_sigma else 3`). A model with 2 · inChannels outputs and fixed
 *   variances needs `learnSigma: false`.
 *
 * The rest comes from `hints`: `imageSize` always; `numHeads` or `numHeadChannels` always
 * (the middle block has attention, and its weights are the same for any head count);
 * `useNewAttentionOrder` when an attention layer has more than one head; `dropout` (default 0).
 *
 * @param stateDict - the names and shapes of the state dict ({@link StateDictShapes}); the
 *   keys of `UNetModel.state_dict()`, without prefixes such as `module.`.
 * @param hints - what the weights cannot decide ({@link UNetConfigHints}).
 * @returns the configuration, every field set; `createUNet(config)` builds a U-Net that
 *   `loadTorchStateDict` loads these weights into.
 * @throws DifflibError on `stateDict` when it is not an ADM U-Net's state dict: a key
 *   missing, unexpected or mis-shaped for the U-Net its blocks describe (the message
 *   names them); on `hints.<name>` when a needed hint is missing, unknown or refused by
 *   {@link createUNet}.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const file = readSafetensors(readFileSync('cifar10_uncond_50M_500K.safetensors'));
 * const config = inferUNetConfig(file, { imageSize: 32, numHeads: 4, useNewAttentionOrder: false, dropout: 0.3 });
 * // { modelChannels: 128, channelMult: [1, 2, 2, 2], numResBlocks: 3, attentionResolutions: [2, 4], learnSigma: true, … }
 * const unet = createUNet(config);
 * loadTorchStateDict(unet, readFileSync('cifar10_uncond_50M_500K.safetensors'));
 * ```
 */
export function inferUNetConfig(stateDict: StateDictShapes, hints: UNetConfigHints = {}): UNetConfig {
  const fn = 'inferUNetConfig';
  const h = checkHints(fn, hints);
  const { structure, convResampleDecided } = inferUNetStructure(fn, readShapes(fn, stateDict));
  const hint = (name: keyof UNetConfigHints, detail: string) => new DifflibError('INVALID_ARGUMENT', fn, `hints.${name}`, detail);

  if (h.imageSize === undefined) {
    const factor = 2 ** (structure.channelMult.length - 1);
    throw hint(
      'imageSize',
      `is required: the weights do not decide the image size (any multiple of ${factor} fits these ${structure.channelMult.length} levels); ` +
        "pass the training size, e.g. 32 for improved-diffusion's CIFAR-10 models, 256 for guided-diffusion's 256x256_diffusion.pt",
    );
  }
  // numHeadChannels −1 means "use numHeads", so it does not settle the heads by itself.
  if (h.numHeads === undefined && (h.numHeadChannels === undefined || h.numHeadChannels === -1)) {
    throw hint(
      'numHeads',
      '(or hints.numHeadChannels) is required: every ADM U-Net has attention (at least in its middle block) and its qkv weight ' +
        "[3C, C, 1] is the same for any number of heads. improved-diffusion's scripts default to num_heads=4; guided-diffusion's " +
        'to num_heads=4 too, but its released 64x64 and 256x256 models use num_head_channels=64 (128x128: num_heads=4)',
    );
  }
  if (convResampleDecided && h.convResample !== undefined && h.convResample !== structure.convResample) {
    throw hint(
      'convResample',
      `is ${h.convResample}, but the weights say ${structure.convResample}: ` +
        (structure.convResample ? 'the Downsample blocks hold a conv (input_blocks.k.0.op.weight)' : 'the Downsample blocks hold no weights (average pooling)'),
    );
  }
  if (h.learnSigma === true && structure.outChannels % 2 !== 0) {
    throw hint('learnSigma', `is true, but out.2.weight gives ${structure.outChannels} output channels, which do not split into mean and variance halves`);
  }

  const config: UNetConfig = {
    ...structure,
    numClasses: structure.numClasses ?? undefined,
    convResample: convResampleDecided ? structure.convResample : (h.convResample ?? true),
    imageSize: h.imageSize,
    numHeads: h.numHeads ?? 1,
    numHeadChannels: h.numHeadChannels ?? -1,
    numHeadsUpsample: h.numHeadsUpsample ?? -1,
    useNewAttentionOrder: h.useNewAttentionOrder ?? false,
    dropout: h.dropout ?? 0,
    learnSigma: h.learnSigma ?? structure.outChannels === 2 * structure.inChannels,
  };
  const resolved = resolveAsHints(fn, config);
  if (h.useNewAttentionOrder === undefined) {
    const heads = maxHeads(resolved);
    if (heads > 1) {
      throw hint(
        'useNewAttentionOrder',
        `is required: attention here has up to ${heads} heads, and the qkv channel order decides how they split. ` +
          "improved-diffusion has only the legacy order (false); guided-diffusion's scripts default to false, " +
          'but its released 64x64 model was trained with use_new_attention_order=True',
      );
    }
  }
  const { numClasses, ...rest } = resolved;
  return numClasses === null ? rest : { ...rest, numClasses };
}

/** The state dict as name → shape. */
function readShapes(fn: string, stateDict: unknown): Map<string, readonly number[]> {
  const bad = (detail: string) => new DifflibError('INVALID_ARGUMENT', fn, 'stateDict', detail);
  if (stateDict === null || typeof stateDict !== 'object') {
    throw bad(`must be a state dict (a Map or object of name → { shape }, or readSafetensors' result), got ${describeValue(stateDict)}`);
  }
  const tensors = (stateDict as { tensors?: unknown }).tensors;
  const source = tensors instanceof Map || (tensors !== null && typeof tensors === 'object' && !('shape' in tensors)) ? tensors : stateDict;
  const entries = source instanceof Map ? [...(source as Map<unknown, unknown>).entries()] : Object.entries(source as object);
  const shapes = new Map<string, readonly number[]>();
  for (const [name, entry] of entries) {
    const shape = (entry as { shape?: unknown } | null)?.shape;
    if (typeof name !== 'string' || !Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`must map names to { shape: number[] }, got ${describeValue(name)} → ${describeValue(entry)}`);
    }
    shapes.set(name, shape as number[]);
  }
  return shapes;
}

/** Checks that hints holds only known hints, booleans where booleans belong. */
function checkHints(fn: string, hints: unknown): UNetConfigHints {
  if (hints === null || typeof hints !== 'object' || Array.isArray(hints)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'hints', `must be an object of UNetConfigHints, got ${describeValue(hints)}`);
  }
  for (const [name, value] of Object.entries(hints)) {
    if (!(HINTS as readonly string[]).includes(name)) {
      throw new DifflibError(
        'UNKNOWN_OPTION',
        fn,
        `hints.${name}`,
        `is not a hint: the hints are ${HINTS.join(', ')} (the weights decide the rest)`,
      );
    }
    if (value !== undefined && BOOLEAN_HINTS.has(name as keyof UNetConfigHints) && typeof value !== 'boolean') {
      throw new DifflibError('INVALID_ARGUMENT', fn, `hints.${name}`, `must be a boolean, got ${describeValue(value)}`);
    }
  }
  return hints as UNetConfigHints;
}

/** createUNet's checks; a refused hint is named as the hint, anything else as the state dict. */
function resolveAsHints(fn: string, config: UNetConfig): ResolvedUNetConfig {
  try {
    return resolveUNetConfig(config);
  } catch (e) {
    if (!(e instanceof DifflibError)) throw e;
    const name = e.argument.replace(/^config\./, '');
    if ((HINTS as readonly string[]).includes(name)) throw new DifflibError(e.code, fn, `hints.${name}`, e.detail);
    throw new DifflibError(e.code, fn, 'stateDict', `describes a U-Net createUNet cannot build: ${e.message}`);
  }
}

/** The most heads of any attention layer (the middle block's and each attended level's, both paths). */
function maxHeads(c: ResolvedUNetConfig): number {
  const levels = c.channelMult.length;
  const attended = c.channelMult.map((m, i) => ({ ch: c.modelChannels * m, on: c.attentionResolutions.includes(2 ** i) })).filter((a) => a.on);
  const middle = c.modelChannels * c.channelMult[levels - 1]!;
  const heads = [attentionHeads(c, middle, false), ...attended.flatMap(({ ch }) => [attentionHeads(c, ch, false), attentionHeads(c, ch, true)])];
  return Math.max(...heads);
}
