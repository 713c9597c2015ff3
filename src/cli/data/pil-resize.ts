// Pillow 9's Image.resize for 8-bit images, reproduced to the byte (test/cli/fixtures has
// PIL's own output): the separable BOX and BICUBIC convolutions of libImaging/Resample.c
// in their fixed-point form, the NEAREST scaling of Geometry.c, and the premultiplied
// alpha that Image.resize wraps around LA and RGBA images.

/** The filters image_datasets.py resizes with. */
export type PilFilter = 'box' | 'bicubic';

/** Fractional bits of Resample.c's fixed-point coefficients (PRECISION_BITS = 32 − 8 − 2). */
const PRECISION_BITS = 22;

const FILTERS: Record<PilFilter, { support: number; weight: (x: number) => number }> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bicubic: {
    support: 2,
    // Keys' cubic with a = −0.5.
    weight: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

/** An 8-bit image: `channels` interleaved bytes per pixel, rows top to bottom. */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Resample.c's precompute_coeffs and normalize_coeffs_8bpc: per output pixel, its first input and integer weights. */
function coefficients(inSize: number, outSize: number, filter: PilFilter): { first: Int32Array; weights: Int32Array[] } {
  const { support: baseSupport, weight } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = baseSupport * filterScale;
  const first = new Int32Array(outSize);
  const weights: Int32Array[] = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = Array.from({ length: xmax }, (_, x) => weight((x + xmin - center + 0.5) / filterScale));
    const total = k.reduce((s, w) => s + w, 0);
    first[xx] = xmin;
    weights.push(
      Int32Array.from(k, (w) => {
        const normal = total !== 0 ? w / total : w;
        return Math.trunc(normal < 0 ? -0.5 + normal * (1 << PRECISION_BITS) : 0.5 + normal * (1 << PRECISION_BITS));
      }),
    );
  }
  return { first, weights };
}

/** clip8: the fixed-point sum back to a byte. */
const clip8 = (sum: number) => Math.min(255, Math.max(0, Math.floor(sum / (1 << PRECISION_BITS))));

/**
 * Image.resize((outWidth, outHeight), filter) on an L / RGB-like image (no alpha
 * handling): a horizontal pass over the rows the vertical pass will read, then a
 * vertical pass, each rounding to bytes, as ImagingResampleInner does.
 */
export function resampleSeparable(image: Pixels, outWidth: number, outHeight: number, filter: PilFilter): Pixels {
  const { width, height, channels } = image;
  if (width === outWidth && height === outHeight) return { ...image, data: image.data.slice() };
  const horizontal = coefficients(width, outWidth, filter);
  const vertical = coefficients(height, outHeight, filter);
  let source = image;
  let rowOffset = 0;
  if (outWidth !== width) {
    // Only rows [firstRow, lastRow) feed the vertical pass.
    const firstRow = vertical.first[0]!;
    const lastRow = vertical.first[outHeight - 1]! + vertical.weights[outHeight - 1]!.length;
    const rows = outHeight !== height ? lastRow - firstRow : height;
    const start = outHeight !== height ? firstRow : 0;
    const out = new Uint8Array(outWidth * rows * channels);
    for (let y = 0; y < rows; y++) {
      for (let xx = 0; xx < outWidth; xx++) {
        const k = horizontal.weights[xx]!;
        const x0 = horizontal.first[xx]!;
        for (let c = 0; c < channels; c++) {
          let sum = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < k.length; x++) sum += image.data[((y + start) * width + x0 + x) * channels + c]! * k[x]!;
          out[(y * outWidth + xx) * channels + c] = clip8(sum);
        }
      }
    }
    source = { width: outWidth, height: rows, channels, data: out };
    rowOffset = start;
  }
  if (outHeight === height) return source;
  const out = new Uint8Array(outWidth * outHeight * channels);
  for (let yy = 0; yy < outHeight; yy++) {
    const k = vertical.weights[yy]!;
    const y0 = vertical.first[yy]! - rowOffset;
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < k.length; y++) sum += source.data[((y0 + y) * outWidth + x) * channels + c]! * k[y]!;
        out[(yy * outWidth + x) * channels + c] = clip8(sum);
      }
    }
  }
  return { width: outWidth, height: outHeight, channels, data: out };
}

/**
 * Image.resize with NEAREST (what PIL uses for palette and 1-bit images, whatever the
 * filter asked): ImagingScaleAffine's source positions ⌊x₀ + a·(x + ½)⌋, a = in/out,
 * accumulated step by step in doubles as it does.
 */
export function resampleNearest(image: Pixels, outWidth: number, outHeight: number): Pixels {
  const { width, height, channels } = image;
  if (width === outWidth && height === outHeight) return { ...image, data: image.data.slice() };
  const positions = (inSize: number, outSize: number) => {
    const a = inSize / outSize;
    const out = new Int32Array(outSize);
    let p = a * 0.5;
    for (let i = 0; i < outSize; i++, p += a) out[i] = Math.min(inSize - 1, Math.trunc(p));
    return out;
  };
  const xs = positions(width, outWidth);
  const ys = positions(height, outHeight);
  const out = new Uint8Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const from = (ys[y]! * width + xs[x]!) * channels;
      out.set(image.data.subarray(from, from + channels), (y * outWidth + x) * channels);
    }
  }
  return { width: outWidth, height: outHeight, channels, data: out };
}

/** Convert.c's MULDIV255: a·b/255, rounded as PIL rounds it. */
const mulDiv255 = (a: number, b: number) => {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
};

/**
 * Image.resize on an RGBA (or LA, `gray` true) image with BOX or BICUBIC: PIL converts to
 * premultiplied alpha (RGBa / La), resizes, and converts back, so transparent pixels
 * lend no colour to their neighbours.
 *
 * @param image - 4 channels, R G B A (for LA the three colour channels are equal).
 */
export function resamplePremultiplied(image: Pixels, outWidth: number, outHeight: number, filter: PilFilter, gray: boolean): Pixels {
  if (image.width === outWidth && image.height === outHeight) return { ...image, data: image.data.slice() };
  const premultiplied = image.data.slice();
  for (let i = 0; i < premultiplied.length; i += 4) {
    for (let c = 0; c < 3; c++) premultiplied[i + c] = mulDiv255(premultiplied[i + c]!, premultiplied[i + 3]!);
  }
  const resized = resampleSeparable({ ...image, data: premultiplied }, outWidth, outHeight, filter);
  const data = resized.data;
  for (let i = 0; i < data.length; i += 4) {
    const alpha = data[i + 3]!;
    for (let c = 0; c < 3; c++) {
      // rgba2rgbA keeps the stored value at alpha 0 and 255; lA2la gives 0 at alpha 0.
      if (alpha === 0) data[i + c] = gray ? 0 : data[i + c]!;
      else if (alpha !== 255) data[i + c] = Math.min(255, Math.floor((255 * data[i + c]!) / alpha));
    }
  }
  return resized;
}
