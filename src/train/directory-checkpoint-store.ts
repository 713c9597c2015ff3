import { DifflibError, describeValue, type DifflibErrorCode } from '../errors';
import { readSafetensors } from '../io/safetensors-read';
import type { SafetensorsFile } from '../io/safetensors-format';
import { writeSafetensors } from '../io/safetensors-write';
import type { Checkpoint, CheckpointStore, CheckpointTensor } from './checkpoint-store';

type NodeFs = typeof import('node:fs/promises');

/** The file in the directory naming the current version. */
const POINTER = 'checkpoint';
const STATE_FILE = 'state.json';
const TENSORS_FILE = 'tensors.safetensors';
const VERSION = /^step-\d+-[A-Za-z0-9]+$/;
/** What an interrupted save can leave behind, removed by the next successful one. */
const LEFTOVER = /^(\.tmp-step-\d+-[A-Za-z0-9]+|checkpoint\.tmp-[A-Za-z0-9]+)$/;

/**
 * Node's fs, imported only when a directory store is used, through a specifier
 * bundlers do not follow, so browser bundles of difflib never see `node:fs`.
 */
async function nodeFs(): Promise<NodeFs> {
  const specifier = 'node:fs/promises';
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as NodeFs;
}

/**
 * Stores checkpoints in a directory (Node). Each save writes a new version
 * directory and then switches a pointer file to it, so the directory always holds
 * one complete checkpoint, whatever fails or crashes mid-save:
 *
 * ```text
 * <path>/checkpoint                 "step-00001000-Ab12Cd": the current version
 * <path>/step-00001000-Ab12Cd/
 *   tensors.safetensors             every tensor, float32, by name (model/…, ema_0.9999/…, optimizer/m/…)
 *   state.json                      step, options, timestep-sampler state
 * ```
 *
 * A save writes the version as `.tmp-step-…` (files flushed to disk), renames it into
 * place (atomic), replaces `checkpoint` by renaming a flushed temporary file over it
 * (atomic), and only then removes older versions. `tensors.safetensors` opens with
 * any safetensors reader (`safetensors.torch.load_file`); tfjs layouts are kept
 * (use {@link exportTorchStateDict} for a PyTorch state dict).
 *
 * @example
 * ```ts
 * const store = new DirectoryCheckpointStore('runs/cifar');
 * await trainer.save(store);     // or trainer.save('runs/cifar')
 * ```
 */
export class DirectoryCheckpointStore implements CheckpointStore {
  /** The directory. */
  readonly path: string;

  /** @param path - the checkpoint directory; created by the first save. */
  constructor(path: string) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new DifflibError('INVALID_ARGUMENT', 'DirectoryCheckpointStore', 'path', `must be a non-empty string, got ${describeValue(path)}`);
    }
    this.path = path.replace(/[/\\]+$/, '') || path;
  }

  /** Writes a new version and switches to it; the previous one survives any failure. */
  async write(checkpoint: Checkpoint): Promise<void> {
    const fs = await nodeFs();
    const step = typeof checkpoint.state['step'] === 'number' ? checkpoint.state['step'] : 0;
    const tensors = Object.fromEntries(
      [...checkpoint.tensors].map(([name, t]) => [name, { dtype: 'F32' as const, shape: t.shape, data: t.data }]),
    );
    const tensorBytes = writeSafetensors(tensors, { format: 'difflib-trainer' });
    const stateBytes = new TextEncoder().encode(JSON.stringify(checkpoint.state));

    await fs.mkdir(this.path, { recursive: true });
    const temporary = await fs.mkdtemp(this.join(`.tmp-step-${String(step).padStart(8, '0')}-`));
    const version = temporary.slice(temporary.lastIndexOf('.tmp-') + '.tmp-'.length);
    try {
      await writeDurably(fs, `${temporary}/${TENSORS_FILE}`, tensorBytes);
      await writeDurably(fs, `${temporary}/${STATE_FILE}`, stateBytes);
      await fs.rename(temporary, this.join(version));
    } catch (e) {
      await fs.rm(temporary, { recursive: true, force: true });
      throw e;
    }
    const pointer = this.join(`${POINTER}.tmp-${version.slice(version.lastIndexOf('-') + 1)}`);
    try {
      await writeDurably(fs, pointer, new TextEncoder().encode(`${version}\n`));
      await fs.rename(pointer, this.join(POINTER));
    } catch (e) {
      await fs.rm(pointer, { force: true });
      await fs.rm(this.join(version), { recursive: true, force: true });
      throw e;
    }
    await syncDirectory(fs, this.path);
    await this.removeAllBut(fs, version);
  }

  /**
   * Reads the version the pointer file names. A missing, truncated or garbled file is
   * refused with a DifflibError naming the directory, the file and what is wrong.
   */
  async read(): Promise<Checkpoint> {
    const fn = 'DirectoryCheckpointStore.read';
    const fs = await nodeFs();
    let version: string;
    try {
      version = (await fs.readFile(this.join(POINTER), 'utf8')).trim();
    } catch {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'path', `"${this.path}" holds no checkpoint (no readable "${POINTER}" file)`);
    }
    if (!VERSION.test(version)) {
      throw new DifflibError('INVALID_ARGUMENT', fn, 'path', `"${this.path}/${POINTER}" names ${describeValue(version)}, not a checkpoint version`);
    }
    const origin = { tensors: this.join(`${version}/${TENSORS_FILE}`), state: this.join(`${version}/${STATE_FILE}`) };
    const damaged = (file: string, what: string, code: DifflibErrorCode = 'INVALID_ARGUMENT') =>
      new DifflibError(code, fn, 'path', `"${this.path}" holds a damaged checkpoint: ${file} ${what}`);
    const attempt = async <T>(file: string, body: () => Promise<T>): Promise<T> => {
      try {
        return await body();
      } catch (e) {
        const code = (e as { code?: unknown } | null)?.code;
        throw damaged(file, `cannot be read (${typeof code === 'string' ? code : String(e)})`);
      }
    };

    const bytes = await attempt(origin.tensors, () => fs.readFile(origin.tensors));
    let file: SafetensorsFile;
    try {
      file = readSafetensors(bytes);
    } catch (e) {
      throw e instanceof DifflibError ? damaged(origin.tensors, e.detail, e.code) : damaged(origin.tensors, `is not a readable safetensors file (${(e as Error).message})`);
    }
    const tensors = new Map<string, CheckpointTensor>();
    for (const [name, t] of file.tensors) {
      if (t.dtype !== 'F32') throw damaged(origin.tensors, `holds tensor "${name}" as ${t.dtype}; checkpoints are float32`);
      tensors.set(name, { shape: t.shape, data: t.data });
    }

    let state: unknown;
    const text = await attempt(origin.state, () => fs.readFile(origin.state, 'utf8'));
    try {
      state = JSON.parse(text);
    } catch (e) {
      throw damaged(origin.state, `is not valid JSON (${(e as Error).message})`);
    }
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw damaged(origin.state, `holds ${describeValue(state)}, not a JSON object`);
    }
    return { tensors, state: state as Record<string, unknown>, origin };
  }

  private join(name: string): string {
    return `${this.path}/${name}`;
  }

  /** Removes older versions and leftovers of interrupted saves (best effort: the checkpoint is already safe). */
  private async removeAllBut(fs: NodeFs, version: string): Promise<void> {
    const entries = await fs.readdir(this.path).catch(() => [] as string[]);
    await Promise.all(
      entries
        .filter((name) => name !== version && (VERSION.test(name) || LEFTOVER.test(name)))
        .map((name) => fs.rm(this.join(name), { recursive: true, force: true }).catch(() => undefined)),
    );
  }
}

/** Writes a file and flushes it to disk before returning. */
async function writeDurably(fs: NodeFs, file: string, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries (the renames) to disk, where the platform allows it. */
async function syncDirectory(fs: NodeFs, path: string): Promise<void> {
  const handle = await fs.open(path, 'r').catch(() => null);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the renames stand regardless.
  } finally {
    await handle.close();
  }
}
