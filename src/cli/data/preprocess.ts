import type { DecodedImage, ResampleMode } from './decode-image';
import { resampleNearest, resamplePremultiplied, resampleSeparable, type PilFilter, type Pixels } from './pil-resize';

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Image.resize for the mode PIL opened the image in (see {@link ResampleMode}). */
function resize(image: Pixels, mode: ResampleMode, width: number, height: number, filter: PilFilter): Pixels {
  if (mode === 'nearest') return resampleNearest(image, width, height);
  if (mode === 'rgb') return resampleSeparable(image, width, height, filter);
  return resamplePremultiplied(image, width, height, filter, mode === 'la');
}

/**
 * image_datasets.py's `ImageDataset.__getitem__` without the transpose: halve the image
 * with BOX while its short side is at least twice `resolution`, resize it with BICUBIC so
 * the short side is `resolution` (sizes rounded half to even, as Python's round), take
 * the centre `resolution`² crop of its RGB, and scale to [−1, 1] in float32 as
 * `arr.astype(np.float32) / 127.5 - 1` does.
 *
 * @param image - the decoded file.
 * @param resolution - the side of the result (`--image_size`).
 * @returns [resolution, resolution, 3] float32, NHWC's one image.
 */
export function preprocessImage(image: DecodedImage, resolution: number): Float32Array {
  const channels = image.mode === 'rgba' || image.mode === 'la' ? 4 : 3;
  let pixels: Pixels = { width: image.width, height: image.height, channels, data: channels === 4 ? image.rgba : dropAlpha(image.rgba) };
  while (Math.min(pixels.width, pixels.height) >= 2 * resolution) {
    pixels = resize(pixels, image.mode, Math.floor(pixels.width / 2), Math.floor(pixels.height / 2), 'box');
  }
  const scale = resolution / Math.min(pixels.width, pixels.height);
  pixels = resize(pixels, image.mode, roundHalfEven(pixels.width * scale), roundHalfEven(pixels.height * scale), 'bicubic');
  const top = Math.floor((pixels.height - resolution) / 2);
  const left = Math.floor((pixels.width - resolution) / 2);
  const out = new Float32Array(resolution * resolution * 3);
  for (let y = 0; y < resolution; y++) {
    for (let x = 0; x < resolution; x++) {
      for (let c = 0; c < 3; c++) {
        const v = pixels.data[((top + y) * pixels.width + left + x) * pixels.channels + c]!;
        out[(y * resolution + x) * 3 + c] = Math.fround(Math.fround(v / 127.5) - 1);
      }
    }
  }
  return out;
}

function dropAlpha(rgba: Uint8Array): Uint8Array {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  return rgb;
}
