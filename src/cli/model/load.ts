// `--model_path` / `--resume_checkpoint`: a model file (saveModelFile: weights and the
// configs that built them) or a bare improved-diffusion state dict in safetensors, checked
// against the flags as image_sample.py's load_state_dict checks it against create_model.
import { readFile } from 'node:fs/promises';
import {
  DifflibError,
  createUNet,
  inferUNetConfig,
  loadModelFile,
  loadTorchStateDict,
  readSafetensors,
  readTorchCheckpoint,
  type GaussianDiffusion,
  type UNet,
} from '../../index';
import { seededUniform } from '../../random';
import type { FlagValues } from '../flags/spec';
import { CliUsageError } from '../usage-error';
import { unetConfigFromFlags } from './build';
import { flagsForUNetConfig, processMismatches, unetMismatches } from './config-flags';

/** A model read for the flags. */
export interface LoadedModel {
  /** The U-Net, weights loaded (the caller disposes it). */
  unet: UNet;
  /** The process the file records (a model file), or null (a bare state dict). */
  diffusion: GaussianDiffusion | null;
  /** The file's bytes (a resumed run reloads them after building its EMAs). */
  bytes: Uint8Array;
}

/** Whether the bytes are a safetensors file: a little-endian u64 header length, then a JSON object. */
function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9) return false;
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return headerLength <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}

/**
 * createUNet with the flags' config; a config it refuses is a usage error naming the
 * flags. With `initSeed`, the initial weights are drawn from that seed.
 *
 * tfjs-layers' initializers seed each draw from `Math.random()` and createUNet takes no
 * seed, so for the length of this synchronous call `Math.random` is a generator seeded
 * with `initSeed` (mulberry32), then restored: the same seed gives the same weights.
 */
export function createUNetFromFlags(f: FlagValues, initSeed?: number): UNet {
  const config = unetConfigFromFlags(f);
  const original = Math.random;
  if (initSeed !== undefined) Math.random = seededUniform(initSeed);
  try {
    return createUNet(config);
  } catch (e) {
    if (e instanceof DifflibError) throw new CliUsageError(`the flags give a U-Net that ${e.message} (flags: ${flagsForUNetConfig(config)})`);
    throw e;
  } finally {
    Math.random = original;
  }
}

/**
 * Reads the model at `path` for the command's flags.
 *
 * - A model file (`saveModelFile`, what `difflib train` writes): the U-Net is rebuilt from
 *   the file's config, which must agree with the flags' (and so must its process).
 * - A bare state dict with improved/guided-diffusion's key names, in a `torch.save` file
 *   (`.pt`, read without running its code) or safetensors: loaded into the U-Net the flags
 *   describe; when it does not fit, inferUNetConfig's reading of its shapes is suggested.
 *
 * @param command - for messages (`difflib sample`).
 * @param flag - the flag that named the file (`model_path`).
 * @param path - the file.
 * @param f - the parsed flags.
 * @param options - `loss`: also compare the training loss (resuming a run).
 * @throws CliUsageError listing every flag that disagrees with the model, with the flags
 *   that build it; DifflibError for a file that cannot be read (a legacy or TorchScript
 *   .pt among them, with readTorchCheckpoint's advice).
 */
export async function loadModelForFlags(command: string, flag: string, path: string, f: FlagValues, options: { loss: boolean }): Promise<LoadedModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new DifflibError('INVALID_ARGUMENT', command, `--${flag}`, `"${path}" cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (isSafetensors(bytes)) {
    const metadata = readSafetensors(bytes).metadata;
    if (metadata['difflib.unet'] !== undefined || metadata['difflib'] !== undefined) return fromModelFile(command, flag, path, bytes, f, options);
  }
  return fromStateDict(command, flag, path, bytes, f);
}

function fromModelFile(command: string, flag: string, path: string, bytes: Uint8Array, f: FlagValues, options: { loss: boolean }): LoadedModel {
  const { unet, diffusion, scheduler } = loadModelFile(bytes, { warn: () => undefined });
  scheduler?.dispose();
  const mismatches = [...unetMismatches(unet.config, unetConfigFromFlags(f)), ...(diffusion ? processMismatches(diffusion, f, options) : [])];
  if (mismatches.length > 0) {
    const suggestion = flagsForUNetConfig(unet.config);
    unet.dispose();
    throw new CliUsageError(
      `${command}: --${flag} "${path}" does not match the flags:\n  ${mismatches.join('\n  ')}\n` +
        `The model's U-Net is built by: ${suggestion}`,
    );
  }
  return { unet, diffusion, bytes };
}

/** A bare state dict (safetensors or torch.save) into the U-Net the flags build. */
function fromStateDict(command: string, flag: string, path: string, bytes: Uint8Array, f: FlagValues): LoadedModel {
  const unet = createUNetFromFlags(f);
  try {
    loadTorchStateDict(unet, bytes);
  } catch (e) {
    unet.dispose();
    if (!(e instanceof DifflibError)) throw e;
    if (e.code === 'SHAPE_MISMATCH') {
      throw new CliUsageError(`${command}: --${flag} "${path}" is not the U-Net the flags build; loadTorchStateDict: ${e.detail}\n${inferredFlags(bytes, f)}`);
    }
    throw new DifflibError(e.code, command, `--${flag}`, `"${path}": ${e.message}`);
  }
  return { unet, diffusion: null, bytes };
}

/**
 * The flags inferUNetConfig reads from the weights' shapes, with what the weights cannot
 * decide (image size, heads, qkv order) taken from the flags given.
 */
function inferredFlags(bytes: Uint8Array, f: FlagValues): string {
  try {
    const stateDict = isSafetensors(bytes) ? readSafetensors(bytes) : readTorchCheckpoint(bytes);
    const config = inferUNetConfig(stateDict, {
      imageSize: f['image_size'] as number,
      numHeads: f['num_heads'] as number,
      numHeadChannels: f['num_head_channels'] as number,
      numHeadsUpsample: f['num_heads_upsample'] as number,
      useNewAttentionOrder: f['use_new_attention_order'] as boolean,
      dropout: f['dropout'] as number,
    });
    return `The weights fit (inferUNetConfig, with --image_size and the heads from the flags): ${flagsForUNetConfig(config)}`;
  } catch (e) {
    return `inferUNetConfig cannot tell the flags either: ${(e as Error).message}`;
  }
}
