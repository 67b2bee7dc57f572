/** A decoded 8-bit PNG: rows top to bottom, `channels` samples per pixel interleaved. */
export interface PngImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Decodes 8-bit greyscale, grey + alpha, RGB or RGBA PNGs (not interlaced); throws on anything else or a bad CRC. */
export function decodePng(bytes: Uint8Array): PngImage;

/** An 8-bit PNG (filter 0 on every row) of 1, 2, 3 or 4 channels. */
export function encodePng(width: number, height: number, channels: number, data: Uint8Array): Buffer;

/** RGB samples of a decoded PNG: greyscale repeated, alpha dropped. */
export function toRgb(image: PngImage): Uint8Array;
