import sharp from 'sharp';
import type { SeededRandom } from '../../util/random.js';
import { decodeImage, type DecodeOptions, type ImageProbe } from './decode.js';
import { centreCropOffset, resizedSize, SEED_GEOMETRY, type CropGeometry } from './geometry.js';
import type { RgbImage } from './types.js';

/**
 * Resampling kernel for the shorter-side resize. 'linear' in libvips is a triangle filter whose
 * support widens with the reduction factor (i.e. antialiased), which is what torchvision's
 * bilinear Resize on PIL images does; sharp's default lanczos3 is sharper and differs from the
 * seed's pixels by several grey levels at edges (measured in test/images.test.ts).
 */
export const RESIZE_KERNEL = 'linear' as const;

/**
 * The evaluation/serving transform (the seed's test transform): resize the shorter side to 256,
 * centre crop 224 x 224. One sharp pipeline (resize, then extract from the resized image).
 */
export async function testTransform(image: RgbImage, geometry: CropGeometry = SEED_GEOMETRY): Promise<RgbImage> {
  const resized = resizedSize(image.width, image.height, geometry.resizeShorterTo);
  checkCropFits(resized, geometry.cropSize);
  const top = centreCropOffset(resized.height, geometry.cropSize);
  const left = centreCropOffset(resized.width, geometry.cropSize);
  return resizeAndCrop(image, resized, left, top, geometry.cropSize);
}

/**
 * The training augmentation (the seed's train transform): resize the shorter side to 256, random
 * 224 x 224 crop with uniform offsets, horizontal flip with probability 0.5. Draws from `rng` in
 * torchvision's order: top, left, then the flip.
 */
export async function trainTransform(
  image: RgbImage,
  rng: SeededRandom,
  geometry: CropGeometry = SEED_GEOMETRY,
): Promise<RgbImage> {
  const resized = resizedSize(image.width, image.height, geometry.resizeShorterTo);
  checkCropFits(resized, geometry.cropSize);
  const top = rng.nextInt(resized.height - geometry.cropSize + 1);
  const left = rng.nextInt(resized.width - geometry.cropSize + 1);
  const flip = rng.nextFloat() < 0.5;
  const crop = await resizeAndCrop(image, resized, left, top, geometry.cropSize);
  // Flipped in JS: sharp applies flop() before a post-resize extract, which would move the crop window.
  return flip ? flipHorizontal(crop) : crop;
}

/** Decode a photo (file path, bytes, or a probe of either) and apply the test transform. */
export async function loadTestCrop(
  input: Uint8Array | string | ImageProbe,
  opts: DecodeOptions & { geometry?: CropGeometry } = {},
): Promise<RgbImage> {
  return testTransform(await decodeImage(input, opts), opts.geometry);
}

/** Decode a photo (file path or bytes) and apply the train transform. */
export async function loadTrainCrop(
  input: Uint8Array | string,
  rng: SeededRandom,
  opts: DecodeOptions & { geometry?: CropGeometry } = {},
): Promise<RgbImage> {
  return trainTransform(await decodeImage(input, opts), rng, opts.geometry);
}

/** Mirror left-right (a new image). */
export function flipHorizontal(image: RgbImage): RgbImage {
  const { width, height } = image;
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const from = row + x * 3;
      const to = row + (width - 1 - x) * 3;
      out[to] = image.data[from];
      out[to + 1] = image.data[from + 1];
      out[to + 2] = image.data[from + 2];
    }
  }
  return { data: out, width, height, channels: 3 };
}

async function resizeAndCrop(
  image: RgbImage,
  resized: { width: number; height: number },
  left: number,
  top: number,
  cropSize: number,
): Promise<RgbImage> {
  if (image.data.length !== image.width * image.height * 3) {
    throw new Error(`RgbImage data holds ${image.data.length} bytes, expected ${image.width}x${image.height}x3`);
  }
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(resized.width, resized.height, { fit: 'fill', kernel: RESIZE_KERNEL })
    .extract({ left, top, width: cropSize, height: cropSize })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== cropSize || info.height !== cropSize) {
    throw new Error(`crop came out ${info.width}x${info.height}x${info.channels}, expected ${cropSize}x${cropSize}x3`);
  }
  return { data, width: cropSize, height: cropSize, channels: 3 };
}

function checkCropFits(resized: { width: number; height: number }, cropSize: number): void {
  if (cropSize > resized.width || cropSize > resized.height) {
    throw new Error(`crop ${cropSize} does not fit in the resized ${resized.width}x${resized.height} image`);
  }
}
