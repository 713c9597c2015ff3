import { GaussianDiffusion } from '../diffusion/gaussian-diffusion';
import type { GaussianDiffusionConfig } from '../diffusion/options';
import { DifflibError, describeValue } from '../errors';
import { UNet, createUNet, type CreateUNetOptions } from '../nn/unet';
import type { UNetConfig } from '../nn/unet-config';
import { schedulerConfigJson, schedulerFromConfig } from '../sampling/schedulers/from-config';
import type { Scheduler } from '../sampling/schedulers/scheduler';
import { NoiseSchedule } from '../schedules/noise-schedule';
import { readSafetensors } from './safetensors-read';
import { exportTorchStateDict, loadTorchStateDict } from './torch-state-dict';

/** Metadata keys of a model file; each holds a JSON config. */
const KEYS = { unet: 'difflib.unet', diffusion: 'difflib.diffusion', scheduler: 'difflib.scheduler' } as const;
/** The key `examples/digits.mjs` of difflib 0.1 wrote: `{ unet, process: { schedule, timesteps, … } }`. */
const LEGACY_KEY = 'difflib';

/** What {@link saveModelFile} writes: a U-Net and, optionally, what samples with it. */
export interface ModelFileParts {
  /** The network; its weights are written as a PyTorch state dict. */
  unet: UNet;
  /** The process it was trained with. */
  diffusion?: GaussianDiffusion;
  /** A diffusers-style scheduler to sample with. */
  scheduler?: Scheduler;
  /** Further free-form metadata (string values). */
  metadata?: Record<string, string>;
}

/** What {@link loadModelFile} rebuilds. */
export interface ModelFile {
  /** The U-Net, with the file's weights. */
  unet: UNet;
  /** The process, when the file has one. */
  diffusion: GaussianDiffusion | null;
  /** The scheduler, when the file has one (before `setTimesteps`). */
  scheduler: Scheduler | null;
  /** The file's other metadata entries (a difflib 0.1 file's `difflib` entry among them). */
  metadata: Record<string, string>;
}

/** Options of {@link loadModelFile}. */
export interface LoadModelFileOptions extends CreateUNetOptions {
  /** Where `schedulerFromConfig`'s warnings go (default `console.warn`). */
  warn?: (message: string) => void;
}

/**
 * One file from which a model rebuilds itself: a safetensors file holding the U-Net's
 * weights as improved-diffusion's PyTorch state dict (so `safetensors.torch.load_file`
 * reads it too) and, in its metadata, the configs of the U-Net (`difflib.unet`), the
 * process (`difflib.diffusion`) and a scheduler (`difflib.scheduler`, diffusers'
 * `scheduler_config.json`). {@link loadModelFile} reads it back.
 *
 * @param parts - the U-Net, optionally the process and a scheduler, extra metadata.
 * @returns the file's bytes.
 *
 * @example
 * ```ts
 * writeFileSync('model.safetensors', saveModelFile({ unet, diffusion, scheduler: new DDIMScheduler() }));
 * const { unet: u, diffusion: d, scheduler: s } = loadModelFile(readFileSync('model.safetensors'));
 * ```
 */
export function saveModelFile(parts: ModelFileParts): Uint8Array {
  const fn = 'saveModelFile';
  if (parts === null || typeof parts !== 'object' || !(parts.unet instanceof UNet)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'parts.unet', `must be a UNet (createUNet), got ${describeValue(parts?.unet)}`);
  }
  if (parts.diffusion !== undefined && !(parts.diffusion instanceof GaussianDiffusion)) {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'parts.diffusion', `must be a GaussianDiffusion, got ${describeValue(parts.diffusion)}`);
  }
  if (parts.scheduler !== undefined && typeof parts.scheduler?.toConfig !== 'function') {
    throw new DifflibError('INVALID_ARGUMENT', fn, 'parts.scheduler', `must be a Scheduler, got ${describeValue(parts.scheduler)}`);
  }
  const metadata: Record<string, string> = { format: 'pt', ...parts.metadata, [KEYS.unet]: JSON.stringify(parts.unet.toConfig()) };
  if (parts.diffusion) metadata[KEYS.diffusion] = JSON.stringify(parts.diffusion.toConfig());
  if (parts.scheduler) metadata[KEYS.scheduler] = schedulerConfigJson(parts.scheduler);
  return exportTorchStateDict(parts.unet, metadata);
}

/**
 * Rebuilds what {@link saveModelFile} wrote: the U-Net (createUNet from its config, then
 * its weights), the process and the scheduler, each when the file has it. Files of
 * difflib 0.1's `examples/digits.mjs` (one `difflib` metadata entry) load too. Makes no
 * tensor but the U-Net's weights; a refused file leaves nothing behind.
 *
 * @param bytes - the file (a Node `Buffer`, a `Uint8Array` or an `ArrayBuffer`).
 * @param options - `registerWasmKernels` for the U-Net (see {@link createUNet}); `warn` for the scheduler config.
 * @returns the U-Net, the process or null, the scheduler or null, and the other metadata.
 * @throws DifflibError when the file is no safetensors file, has no U-Net config, or a config is invalid.
 *
 * @example
 * ```ts
 * const { unet, diffusion } = loadModelFile(new Uint8Array(await (await fetch('model.safetensors')).arrayBuffer()));
 * const x0 = await sample(diffusion!.respace('50'), unet.forward, [4, 32, 32, 3]);
 * ```
 */
export function loadModelFile(bytes: Uint8Array | ArrayBuffer, options: LoadModelFileOptions = {}): ModelFile {
  const fn = 'loadModelFile';
  const { metadata } = readSafetensorsAs(fn, bytes);
  const { warn, ...unetOptions } = options;
  const configs = readConfigs(fn, metadata);
  // Everything is parsed and checked before the U-Net makes its weights.
  const diffusion = configs.diffusion === null ? null : rename(fn, KEYS.diffusion, () => GaussianDiffusion.fromConfig(configs.diffusion!));
  const scheduler = configs.scheduler === null ? null : rename(fn, KEYS.scheduler, () => schedulerFromConfig(configs.scheduler!, { warn }));
  const unet = rename(fn, KEYS.unet, () => createUNet(configs.unet, unetOptions));
  try {
    loadTorchStateDict(unet, bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes);
  } catch (e) {
    unet.dispose();
    scheduler?.dispose();
    throw e instanceof DifflibError ? new DifflibError(e.code, fn, 'bytes', e.detail) : e;
  }
  const rest = Object.fromEntries(Object.entries(metadata).filter(([k]) => !Object.values(KEYS).includes(k as never)));
  return { unet, diffusion, scheduler, metadata: rest };
}

function readSafetensorsAs(fn: string, bytes: unknown): { metadata: Record<string, string> } {
  try {
    return readSafetensors(bytes as Uint8Array);
  } catch (e) {
    throw e instanceof DifflibError ? new DifflibError(e.code, fn, 'bytes', e.detail) : e;
  }
}

interface Configs {
  unet: UNetConfig;
  diffusion: GaussianDiffusionConfig | null;
  /** diffusers' scheduler_config.json text (it may hold bare -Infinity). */
  scheduler: string | null;
}

function readConfigs(fn: string, metadata: Record<string, string>): Configs {
  const parse = (key: string): unknown => {
    try {
      return JSON.parse(metadata[key]!);
    } catch (e) {
      throw new DifflibError('INVALID_ARGUMENT', fn, `bytes`, `has metadata "${key}" that is not valid JSON (${(e as Error).message})`);
    }
  };
  if (metadata[KEYS.unet] !== undefined) {
    return {
      unet: parse(KEYS.unet) as UNetConfig,
      diffusion: metadata[KEYS.diffusion] === undefined ? null : (parse(KEYS.diffusion) as GaussianDiffusionConfig),
      scheduler: metadata[KEYS.scheduler] ?? null,
    };
  }
  if (metadata[LEGACY_KEY] !== undefined) {
    const legacy = parse(LEGACY_KEY) as { unet?: UNetConfig; process?: { schedule: string; timesteps: number } & Omit<GaussianDiffusionConfig, 'schedule' | 'rescaleTimesteps'> };
    const process = legacy.process;
    return {
      unet: legacy.unet as UNetConfig,
      diffusion: process
        ? {
            schedule: rename(fn, `${LEGACY_KEY}.process`, () => NoiseSchedule.named(process.schedule as never, process.timesteps).toConfig()),
            modelMeanType: process.modelMeanType,
            modelVarType: process.modelVarType,
            lossType: process.lossType,
            rescaleTimesteps: false,
          }
        : null,
      scheduler: null,
    };
  }
  throw new DifflibError('INVALID_ARGUMENT', fn, 'bytes', `holds no "${KEYS.unet}" metadata: it is a safetensors file, but not a difflib model file (saveModelFile); for a bare state dict use createUNet and loadTorchStateDict`);
}

/** Runs `body`, naming the metadata entry in any DifflibError it throws. */
function rename<T>(fn: string, key: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (!(e instanceof DifflibError)) throw e;
    throw new DifflibError(e.code, fn, 'bytes', `has metadata "${key}" that ${e.functionName} refuses: ${e.argument} ${e.detail}`);
  }
}
