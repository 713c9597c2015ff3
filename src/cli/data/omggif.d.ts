// omggif ships no types; the CLI uses only its reader.
declare module 'omggif' {
  /** Reads a GIF 87a/89a file. */
  class GifReader {
    constructor(bytes: Uint8Array);
    readonly width: number;
    readonly height: number;
    numFrames(): number;
    /** Decodes frame `frame` into `pixels` ([height, width, 4] of the logical screen); transparent pixels are left as they are. */
    decodeAndBlitFrameRGBA(frame: number, pixels: Uint8Array): void;
  }
  const omggif: { GifReader: typeof GifReader };
  export default omggif;
}
