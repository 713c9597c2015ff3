// The CLI's data pipeline against improved-diffusion's: image_datasets.py run with Pillow 9.4
// on the images of test/fixtures/cli/images (generator: test/fixtures/cli/make_image_fixtures.py).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/cli/data/decode-image';
import { classesFromFileNames, listImageFiles } from '../../src/cli/data/list-images';
import { preprocessImage } from '../../src/cli/data/preprocess';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cli');
interface Case {
  file: string;
  mode: string;
  resolution: number;
  pixels: number[];
}
const { cases } = JSON.parse(readFileSync(path.join(fixtures, 'image-pipeline.json'), 'utf8')) as { cases: Case[] };

/** The pipeline's [−1, 1] floats back on the 8-bit grid. */
const toBytes = (x: Float32Array) => Array.from(x, (v) => Math.round((v + 1) * 127.5));

describe("image_datasets.py's resize and crop, byte for byte against Pillow", () => {
  const exact = cases.filter((c) => !c.file.endsWith('.jpg'));
  it.each(exact.map((c) => [`${c.file} (PIL mode ${c.mode}) at ${c.resolution}`, c] as const))('%s', (_, c) => {
    const image = decodeImage(readFileSync(path.join(fixtures, 'images', c.file)), c.file);
    const x = preprocessImage(image, c.resolution);
    expect(x.length).toBe(c.resolution * c.resolution * 3);
    expect(toBytes(x)).toEqual(c.pixels);
  });

  it('scales to [-1, 1] as arr.astype(np.float32) / 127.5 - 1', () => {
    const c = exact[0]!;
    const x = preprocessImage(decodeImage(readFileSync(path.join(fixtures, 'images', c.file)), c.file), c.resolution);
    c.pixels.forEach((v, i) => expect(x[i]).toBe(Math.fround(Math.fround(v / 127.5) - 1)));
  });

  it('a 4:4:4 JPEG is within 4 levels of libjpeg (another IDCT)', () => {
    const c = cases.find((k) => k.file.endsWith('.jpg'))!;
    const bytes = toBytes(preprocessImage(decodeImage(readFileSync(path.join(fixtures, 'images', c.file)), c.file), c.resolution));
    const diffs = bytes.map((v, i) => Math.abs(v - c.pixels[i]!));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(4);
    expect(diffs.reduce((s, d) => s + d, 0) / diffs.length).toBeLessThan(2);
  });
});

describe('the image listing and classes of image_datasets.py', () => {
  it('lists .png/.jpg/.jpeg/.gif files in sorted order, recursively', async () => {
    const files = (await listImageFiles(path.join(fixtures, 'images'))).map((f) => path.basename(f));
    expect(files).toEqual([...new Set(cases.map((c) => c.file))].sort());
  });

  it('takes the class from the name before the first underscore, numbered in sorted order', () => {
    const { names, labels } = classesFromFileNames(['d/zebra_1.png', 'd/sub/ant_2.jpg', 'd/zebra_x_3.png', 'd/cat.png']);
    expect(names).toEqual(['ant', 'cat.png', 'zebra']);
    expect(Array.from(labels)).toEqual([2, 0, 2, 1]);
  });
});
