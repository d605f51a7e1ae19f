/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC): data[(y * width + x) * 3 + c]. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

/** Formats decodeImage accepts; 'avif' is HEIF with AV1 inside (HEIF with HEVC, i.e. HEIC, is refused). */
export type SupportedImageFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'tiff';

/** A decoded, oriented, sRGB image at full resolution, and the container it came from. */
export interface DecodedImage extends RgbImage {
  format: SupportedImageFormat;
}
