import { DifflibError } from '../errors';
import { unetStateDictShapes, type UNetStructure } from './unet-state-dict-shapes';

/** What the weights decide, and whether they decide `convResample`. @internal */
export interface InferredStructure {
  structure: UNetStructure;
  /** False when nothing resamples with a conv of its own (one level, or resblockUpdown). */
  convResampleDecided: boolean;
}

/** Entries listed per kind in a mismatch message before "… and N more". */
const LISTED = 8;

/**
 * Reads the structure of an improved/guided-diffusion `UNetModel` from its state dict's
 * names and shapes, then checks every key against the state dict of the U-Net that
 * structure gives (so missing, unexpected and mis-shaped keys are all refused).
 * `fn` names the public function in errors; every error's argument is `stateDict`.
 * @internal
 */
export function inferUNetStructure(fn: string, shapes: ReadonlyMap<string, readonly number[]>): InferredStructure {
  const fail = (detail: string, code: 'INVALID_ARGUMENT' | 'SHAPE_MISMATCH' = 'SHAPE_MISMATCH') => new DifflibError(code, fn, 'stateDict', detail);
  const keys = [...shapes.keys()];
  const has = (key: string) => shapes.has(key);
  const need = (key: string, what: string): readonly number[] => {
    const shape = shapes.get(key);
    if (!shape) throw fail(`has no ${key} (${what}); it holds ${keys.length} keys: ${listed(keys)}`);
    return shape;
  };

  const timeEmbed = shapes.get('time_embed.0.weight');
  if (!timeEmbed) {
    const prefixed = keys.find((k) => k.endsWith('.time_embed.0.weight'));
    throw fail(
      'is not the state dict of an improved/guided-diffusion UNetModel: it has no time_embed.0.weight ' +
        `(the time embedding's first linear, [4·modelChannels, modelChannels])` +
        (prefixed ? `; its keys seem to carry the prefix "${prefixed.slice(0, -'time_embed.0.weight'.length)}", strip it first` : '') +
        `; it holds ${keys.length} keys: ${listed(keys)}`,
      'INVALID_ARGUMENT',
    );
  }
  const modelChannels = timeEmbed[1]!;
  if (timeEmbed.length !== 2 || !(modelChannels > 0) || timeEmbed[0] !== 4 * modelChannels) {
    throw fail(`has time_embed.0.weight of shape [${timeEmbed}], expected [4·C, C] (C = modelChannels)`);
  }
  const inConv = need('input_blocks.0.0.weight', 'the input conv, [modelChannels, inChannels, 3, 3]');
  if (inConv.length !== 4 || inConv[0] !== modelChannels) {
    throw fail(
      `has input_blocks.0.0.weight of shape [${inConv}], expected [${modelChannels}, inChannels, 3, 3]: the time embedding gives ` +
        `modelChannels ${modelChannels}, and createUNet's input conv (improved-diffusion's) has that many outputs ` +
        '(guided-diffusion with channel_mult[0] ≠ 1 gives channel_mult[0]·model_channels, which createUNet does not build)',
    );
  }
  const outConv = need('out.2.weight', 'the output conv, [outChannels, channels, 3, 3]');

  // Blocks: input_blocks has 1 + levels·numResBlocks + (levels − 1) entries, output_blocks
  // levels·(numResBlocks + 1): the same count. An average-pooling Downsample has no keys.
  const inputBlocks = blocksOf(keys, 'input_blocks');
  const inputCount = blockCount(fail, inputBlocks, keys.length, 'input_blocks');
  const outputCount = blockCount(fail, blocksOf(keys, 'output_blocks'), keys.length, 'output_blocks');
  if (inputCount < 2) need('input_blocks.1.0.in_layers.2.weight', 'the first ResBlock');
  if (outputCount !== inputCount) {
    throw fail(
      `has ${inputCount} input blocks (input_blocks.0–${inputCount - 1}) but ${outputCount} output blocks; ` +
        'an ADM U-Net has levels·(numResBlocks + 1) of each',
    );
  }
  const downs: number[] = [];
  let convResample = true;
  for (let k = 1; k < inputCount; k++) {
    const prefix = `input_blocks.${k}.`;
    const held = inputBlocks.get(k) ?? [];
    if (held.length === 0 || has(`${prefix}0.op.weight`)) {
      if (downs.length === 0) convResample = held.length > 0;
      downs.push(k);
    } else if (!has(`${prefix}0.in_layers.2.weight`)) {
      throw fail(`has input_blocks.${k} holding ${listed(held)}: neither a ResBlock (${prefix}0.in_layers.…) nor a Downsample (${prefix}0.op.weight)`);
    }
  }
  // Every input block is a ResBlock: one level, or downsampling ResBlocks (resblockUpdown),
  // which only the output side tells apart: an upsampling ResBlock follows a block's first part.
  let resblockUpdown = false;
  let numResBlocks = inputCount - 1;
  if (downs.length > 0) {
    numResBlocks = downs[0]! - 1;
  } else {
    const up = Array.from({ length: outputCount }, (_, j) => j).find(
      (j) => has(`output_blocks.${j}.1.in_layers.2.weight`) || has(`output_blocks.${j}.2.in_layers.2.weight`),
    );
    if (up !== undefined) {
      resblockUpdown = true;
      numResBlocks = up;
    }
  }
  if (numResBlocks < 1) throw fail('has a Downsample at input_blocks.1, expected a ResBlock: every level starts with numResBlocks ≥ 1 of them');
  const levels = inputCount / (numResBlocks + 1);
  if (!Number.isInteger(levels)) {
    throw fail(
      `has ${inputCount} input blocks, not a multiple of numResBlocks + 1 = ${numResBlocks + 1} ` +
        `(numResBlocks ${numResBlocks}, from the first resampling block)`,
    );
  }

  // Each level's first ResBlock gives its channels, and whether the level has attention.
  const channelMult: number[] = [];
  const attentionResolutions: number[] = [];
  for (let level = 0; level < levels; level++) {
    const first = level * (numResBlocks + 1) + 1;
    const key = `input_blocks.${first}.0.in_layers.2.weight`;
    const ch = need(key, `the first conv of level ${level}`)[0]!;
    if (!(ch > 0) || ch % modelChannels !== 0) {
      throw fail(`has ${key} with ${ch} output channels at level ${level}, expected a multiple of modelChannels ${modelChannels} (channelMult holds integers)`);
    }
    channelMult.push(ch / modelChannels);
    if (has(`input_blocks.${first}.1.qkv.weight`)) attentionResolutions.push(2 ** level);
  }
  const embOut = need('input_blocks.1.0.emb_layers.1.weight', 'the first ResBlock\'s embedding projection')[0]!;
  const ch0 = modelChannels * channelMult[0]!;
  if (embOut !== ch0 && embOut !== 2 * ch0) {
    throw fail(
      `has input_blocks.1.0.emb_layers.1.weight with ${embOut} outputs, expected ${ch0} (the block's channels) ` +
        `or ${2 * ch0} (scale and shift, useScaleShiftNorm)`,
    );
  }
  const label = shapes.get('label_emb.weight');

  const structure: UNetStructure = {
    inChannels: inConv[1]!,
    modelChannels,
    outChannels: outConv[0]!,
    numResBlocks,
    attentionResolutions,
    channelMult,
    convResample,
    numClasses: label ? label[0]! : null,
    useScaleShiftNorm: embOut === 2 * ch0,
    resblockUpdown,
  };
  checkAgainst(fail, shapes, unetStateDictShapes(structure), structure);
  return { structure, convResampleDecided: levels > 1 && !resblockUpdown };
}

/** Refuses `shapes` unless it has exactly the keys and shapes of `expected`. */
function checkAgainst(
  fail: (detail: string) => DifflibError,
  shapes: ReadonlyMap<string, readonly number[]>,
  expected: ReadonlyMap<string, number[]>,
  s: UNetStructure,
): void {
  const missing: string[] = [];
  const misShaped: string[] = [];
  for (const [key, shape] of expected) {
    const got = shapes.get(key);
    if (!got) missing.push(`${key} [${shape}]`);
    else if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) misShaped.push(`${key} (expected [${shape}], got [${got}])`);
  }
  const unexpected = [...shapes.keys()].filter((k) => !expected.has(k));
  if (missing.length || unexpected.length || misShaped.length) {
    const parts = [
      misShaped.length ? `mis-shaped keys: ${listed(misShaped)}` : '',
      missing.length ? `missing keys: ${listed(missing)}` : '',
      unexpected.length ? `unexpected keys: ${listed(unexpected)}` : '',
    ].filter(Boolean);
    const described =
      `modelChannels ${s.modelChannels}, channelMult [${s.channelMult}], numResBlocks ${s.numResBlocks}, ` +
      `attention at factors [${s.attentionResolutions}], useScaleShiftNorm ${s.useScaleShiftNorm}, resblockUpdown ${s.resblockUpdown}`;
    throw fail(`does not match the U-Net its blocks describe (${described}); ${parts.join('; ')}`);
  }
}

/** The keys `<prefix>.<i>.…`, by block index i. */
function blocksOf(keys: string[], prefix: string): Map<number, string[]> {
  const pattern = new RegExp(`^${prefix}\\.(\\d+)\\.`);
  const blocks = new Map<number, string[]>();
  for (const key of keys) {
    const m = pattern.exec(key);
    if (!m) continue;
    const held = blocks.get(Number(m[1]));
    if (held) held.push(key);
    else blocks.set(Number(m[1]), [key]);
  }
  return blocks;
}

/** 1 + the largest block index; every block but an average-pooling one has keys, so no more than the keys. */
function blockCount(fail: (detail: string) => DifflibError, blocks: Map<number, string[]>, keyCount: number, prefix: string): number {
  const count = Math.max(0, ...[...blocks.keys()].map((i) => i + 1));
  if (count > keyCount) throw fail(`has ${prefix}.${count - 1} but only ${keyCount} keys: block indices run 0, 1, 2, … without long gaps`);
  return count;
}

/** The first few items, then how many more. */
function listed(items: string[]): string {
  const head = items.slice(0, LISTED).join(', ');
  return items.length > LISTED ? `${head}, … and ${items.length - LISTED} more` : head;
}
