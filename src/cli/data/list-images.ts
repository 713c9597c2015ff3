import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** The extensions image_datasets.py takes, compared lower-cased. */
const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'gif'];

/**
 * image_datasets.py's `_list_image_files_recursively`: the entries of `dir` in sorted
 * order; a name with a dot and an image extension is an image, any other directory is
 * searched the same way.
 *
 * @param dir - the data directory.
 * @returns the image paths, in the order improved-diffusion lists them.
 */
export async function listImageFiles(dir: string): Promise<string[]> {
  const results: string[] = [];
  // Python sorts str by code point; comparing UTF-16 code units agrees outside astral characters.
  for (const entry of (await readdir(dir)).sort()) {
    const full = path.join(dir, entry);
    const ext = entry.split('.').pop()!.toLowerCase();
    if (entry.includes('.') && IMAGE_EXTENSIONS.includes(ext)) results.push(full);
    else if ((await stat(full)).isDirectory()) results.push(...(await listImageFiles(full)));
  }
  return results;
}

/** Class names and the index of each file's class. */
export interface ImageClasses {
  /** The distinct names, sorted: class i is `names[i]`. */
  names: string[];
  /** The class index of each file, in the files' order. */
  labels: Int32Array;
}

/**
 * image_datasets.py's classes: the part of each file name before the first `_`
 * (`cat_001.png` is a "cat"), numbered in sorted order of the distinct names.
 */
export function classesFromFileNames(files: readonly string[]): ImageClasses {
  const perFile = files.map((f) => path.basename(f).split('_')[0]!);
  const names = [...new Set(perFile)].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  return { names, labels: Int32Array.from(perFile, (n) => index.get(n)!) };
}
