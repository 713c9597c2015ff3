// The PNG beside samples_*.npz: a look at the first samples without numpy. Encoded with
// pngjs (a CLI dependency, see ../data/decode-image.ts), which the library never imports.
import pngjs from 'pngjs';

/** Samples shown at most (an 8×8 grid); the .npz has them all. */
export const GRID_SAMPLES = 64;

/**
 * The first {@link GRID_SAMPLES} images of `images` ([N, H, W, 3] uint8) as a square-ish
 * grid on white, 2 px apart, each enlarged by an integer factor to at least 32 px.
 *
 * @returns the PNG file's bytes.
 */
export function encodeGridPng(images: Uint8Array, count: number, height: number, width: number): Uint8Array {
  const n = Math.min(count, GRID_SAMPLES);
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const scale = Math.max(1, Math.ceil(32 / Math.min(height, width)));
  const gap = 2;
  const [cellW, cellH] = [width * scale + gap, height * scale + gap];
  const png = new pngjs.PNG({ width: cols * cellW + gap, height: rows * cellH + gap });
  png.data.fill(255);
  for (let k = 0; k < n; k++) {
    const [ox, oy] = [(k % cols) * cellW + gap, Math.floor(k / cols) * cellH + gap];
    for (let y = 0; y < height * scale; y++) {
      for (let x = 0; x < width * scale; x++) {
        const from = ((k * height + Math.floor(y / scale)) * width + Math.floor(x / scale)) * 3;
        const to = ((oy + y) * png.width + ox + x) * 4;
        png.data[to] = images[from]!;
        png.data[to + 1] = images[from + 1]!;
        png.data[to + 2] = images[from + 2]!;
      }
    }
  }
  return pngjs.PNG.sync.write(png);
}
