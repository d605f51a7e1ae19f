import { ImageDecodeError } from './errors.js';

/** Sizes of the seed's image pipeline: resize the shorter side to 256, crop 224 x 224. */
export interface CropGeometry {
  resizeShorterTo: number;
  cropSize: number;
}

export const SEED_GEOMETRY: CropGeometry = { resizeShorterTo: 256, cropSize: 224 };

/**
 * The widest aspect ratio accepted: resizing the shorter side to 256 makes the longer one 256 x ratio
 * (16384 px at 64:1, ~12 MB of RGB); beyond that a thin strip would cost memory for no useful crop.
 */
export const MAX_ASPECT_RATIO = 64;

/**
 * Output size of torchvision's Resize(size) for an int size: the shorter side becomes `size`, the longer
 * one int(size * long / short) (truncated, not rounded), so crops match the seed's pixel grid.
 */
export function resizedSize(width: number, height: number, shorter: number): { width: number; height: number } {
  if (!(width > 0 && height > 0)) throw new Error(`image size must be positive, got ${width}x${height}`);
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  if (long / short > MAX_ASPECT_RATIO) {
    throw new ImageDecodeError(
      'extreme_aspect_ratio',
      `the image is ${width}x${height}, more than ${MAX_ASPECT_RATIO} times wider than high or the reverse`,
    );
  }
  const newLong = Math.floor((shorter * long) / short);
  return width <= height ? { width: shorter, height: newLong } : { width: newLong, height: shorter };
}

/** torchvision CenterCrop offset: int(round((size - crop) / 2)) with Python's round half to even. */
export function centreCropOffset(size: number, crop: number): number {
  return roundHalfEven((size - crop) / 2);
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
