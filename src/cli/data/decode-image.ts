// Decodes the image files image_datasets.py opens with PIL. The CLI takes small pure-JS
// decoders as dependencies rather than writing its own (PNG filtering, interlacing and
// palettes; JPEG's Huffman/IDCT; GIF's LZW are each real code): pngjs, jpeg-js and omggif,
// imported by dist/cli.js only — never by the library entry.
import { DifflibError } from '../../index';
import jpeg from 'jpeg-js';
import omggif from 'omggif';
import pngjs, { type PNGWithMetadata } from 'pngjs';

/**
 * How PIL would resize the image: the mode Image.open gives decides it. `rgb`: L and RGB
 * (the BOX/BICUBIC filters); `rgba` and `la`: RGBA and LA (the same filters on
 * premultiplied alpha); `nearest`: palette (P) and 1-bit images, which Image.resize
 * always resizes with NEAREST.
 */
export type ResampleMode = 'rgb' | 'rgba' | 'la' | 'nearest';

/** A decoded image: 8-bit RGBA rows, and how PIL would resize it. */
export interface DecodedImage {
  width: number;
  height: number;
  /** [height, width, 4] bytes: R, G, B as `convert("RGB")` gives them, and alpha. */
  rgba: Uint8Array;
  mode: ResampleMode;
}

/**
 * Decodes a PNG, JPEG or GIF (by content, whatever the extension), as PIL 9 opens it
 * and `convert("RGB")` reads it. PNGs and GIFs decode exactly, with two exceptions:
 * 16-bit PNGs keep their high byte (PIL does so for RGB, but clips 16-bit grayscale),
 * and a GIF's transparent pixels come out black (PIL gives their palette colour). JPEGs
 * differ from libjpeg's by a few levels (jpeg-js' IDCT), and where chroma is subsampled
 * (4:2:0, most photos) by more at sharp colour edges: jpeg-js repeats chroma samples
 * where libjpeg interpolates them.
 *
 * @param bytes - the file.
 * @param file - its path, for messages.
 * @throws DifflibError naming the file when it is no image these decoders read.
 */
export function decodeImage(bytes: Uint8Array, file: string): DecodedImage {
  try {
    if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return decodePng(bytes);
    if (bytes[0] === 0xff && bytes[1] === 0xd8) return decodeJpeg(bytes);
    if (bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46) return decodeGif(bytes);
  } catch (e) {
    throw new DifflibError('INVALID_ARGUMENT', 'difflib', '--data_dir', `holds "${file}", which cannot be decoded (${(e as Error).message})`);
  }
  throw new DifflibError('INVALID_ARGUMENT', 'difflib', '--data_dir', `holds "${file}", which is not a PNG, JPEG or GIF file`);
}

function decodePng(bytes: Uint8Array): DecodedImage {
  // skipRescale: samples as stored, so tRNS colours can be restored and depths converted as PIL does.
  const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), { skipRescale: true }) as PNGWithMetadata & {
    transColor?: number[];
  };
  const { width, height, depth } = png;
  const colorType = png.colorType as number;
  const samples = png.data as unknown as ArrayLike<number>;
  const rgba = new Uint8Array(width * height * 4);
  // PIL: 16-bit samples keep their high byte; 1/2/4-bit grey is scaled to 0…255 (×255, ×85, ×17).
  const to8 = colorType === 3 ? (v: number) => v : depth === 16 ? (v: number) => v >> 8 : depth < 8 ? (v: number) => (v * 255) / (2 ** depth - 1) : (v: number) => v;
  // pngjs zeroes pixels of the tRNS colour; PIL keeps their colour (alpha is dropped by convert("RGB")).
  const trans = (colorType === 0 || colorType === 2) && png.transColor ? png.transColor : null;
  for (let i = 0; i < width * height; i++) {
    const transparent = trans !== null && samples[4 * i + 3] === 0;
    for (let c = 0; c < 3; c++) rgba[4 * i + c] = to8(transparent ? trans![trans!.length === 1 ? 0 : c]! : samples[4 * i + c]!);
    rgba[4 * i + 3] = colorType === 4 || colorType === 6 ? to8(samples[4 * i + 3]!) : 255;
  }
  const mode: ResampleMode = colorType === 3 || (colorType === 0 && depth === 1) ? 'nearest' : colorType === 6 ? 'rgba' : colorType === 4 ? 'la' : 'rgb';
  return { width, height, rgba, mode };
}

function decodeJpeg(bytes: Uint8Array): DecodedImage {
  const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  return { width: image.width, height: image.height, rgba: image.data, mode: 'rgb' };
}

function decodeGif(bytes: Uint8Array): DecodedImage {
  const reader = new omggif.GifReader(bytes);
  const rgba = new Uint8Array(reader.width * reader.height * 4);
  reader.decodeAndBlitFrameRGBA(0, rgba);
  return { width: reader.width, height: reader.height, rgba, mode: 'nearest' };
}
