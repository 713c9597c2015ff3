import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { seededPermutation } from '../../data/permutation';
import { DifflibError } from '../../index';
import { decodeImage } from './decode-image';
import { classesFromFileNames, listImageFiles } from './list-images';
import { preprocessImage } from './preprocess';

/** One batch: images [B, H, W, 3] in [−1, 1] and, for a class-conditional model, labels [B] int32. */
export interface ImageBatch {
  x: tf.Tensor4D;
  y?: tf.Tensor1D;
}

/**
 * improved-diffusion's `load_data` over a folder: the images of
 * `_list_image_files_recursively`, their classes from the file names when class-conditional,
 * each read and resized when a batch needs it (as its DataLoader does), in the order of
 * {@link trainingOrder} or {@link evaluationOrder}.
 */
export class ImageFolder {
  private constructor(
    /** The image files, in listing order. */
    readonly files: readonly string[],
    /** The side of the images a batch holds. */
    readonly resolution: number,
    /** The sorted class names, or null without classes. */
    readonly classNames: readonly string[] | null,
    /** Each file's class index, or null without classes. */
    readonly labels: Int32Array | null,
  ) {}

  /**
   * Lists the folder.
   *
   * @param command - for messages.
   * @param dir - `--data_dir`.
   * @param resolution - `--image_size`.
   * @param classCond - take classes from the file names.
   * @throws DifflibError when the folder cannot be read or holds no image.
   */
  static async open(command: string, dir: string, resolution: number, classCond: boolean): Promise<ImageFolder> {
    let files: string[];
    try {
      files = await listImageFiles(dir);
    } catch (e) {
      throw new DifflibError('INVALID_ARGUMENT', command, '--data_dir', `"${dir}" cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    if (files.length === 0) {
      throw new DifflibError('INVALID_ARGUMENT', command, '--data_dir', `"${dir}" holds no .png, .jpg, .jpeg or .gif file (searched recursively)`);
    }
    const classes = classCond ? classesFromFileNames(files) : null;
    return new ImageFolder(files, resolution, classes?.names ?? null, classes?.labels ?? null);
  }

  /** N, the number of images. */
  get length(): number {
    return this.files.length;
  }

  /** Reads, decodes and resizes the images at `indices` into one batch (new tensors). */
  async batch(indices: ArrayLike<number>): Promise<ImageBatch> {
    const side = this.resolution;
    const size = side * side * 3;
    const pixels = new Float32Array(indices.length * size);
    for (let i = 0; i < indices.length; i++) {
      const file = this.files[indices[i]!]!;
      pixels.set(preprocessImage(decodeImage(await readFile(file), file), side), i * size);
    }
    const x = tf.tensor4d(pixels, [indices.length, side, side, 3]);
    if (!this.labels) return { x };
    return { x, y: tf.tensor1d(Int32Array.from(indices, (k) => this.labels![k]!), 'int32') };
  }
}

/**
 * The images of training step `step`: DataLoader(shuffle=True, drop_last=True) repeated
 * forever, each epoch e a seeded shuffle (seed + e), so a resumed run reads the batches
 * the uninterrupted one would have.
 *
 * @param n - images in the folder.
 * @param batchSize - B ≤ n.
 * @param seed - the run's seed.
 * @param step - the step (0-based).
 */
export function trainingOrder(n: number, batchSize: number, seed: number, step: number): Int32Array {
  const perEpoch = Math.floor(n / batchSize);
  const epoch = Math.floor(step / perEpoch);
  const start = (step % perEpoch) * batchSize;
  return seededPermutation(n, (seed + epoch) % 2 ** 32).slice(start, start + batchSize);
}

/** The images of evaluation batch `batch`: DataLoader(shuffle=False, drop_last=True) repeated. */
export function evaluationOrder(n: number, batchSize: number, batch: number): Int32Array {
  const start = (batch % Math.floor(n / batchSize)) * batchSize;
  return Int32Array.from({ length: batchSize }, (_, i) => start + i);
}
