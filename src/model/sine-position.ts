import * as tf from '@tensorflow/tfjs';

const TEMPERATURE = 10000;
const NORMALISE_EPS = 1e-6;
const SCALE = 2 * Math.PI;

/**
 * The query2labels/DETR 2-D sine positional encoding (normalize=True, temperature 10000, scale 2pi)
 * as values [H*W * channels], row-major over (y*W + x, channel): the first channels/2 encode y,
 * the rest x, each as interleaved sin (even k) / cos (odd k) of pos / 10000^(2*floor(k/2)/F).
 * Every step is rounded to float32 (Math.fround) because the seed computes it in float32.
 */
export function sinePositionValues(height: number, width: number, channels: number): Float32Array {
  const f = Math.fround;
  const perAxis = channels / 2;
  const dimT = new Float64Array(perAxis);
  for (let k = 0; k < perAxis; k++) {
    dimT[k] = f(TEMPERATURE ** f((2 * Math.floor(k / 2)) / perAxis));
  }
  const yDen = f(height + NORMALISE_EPS);
  const xDen = f(width + NORMALISE_EPS);
  const scale = f(SCALE);
  const out = new Float32Array(height * width * channels);
  for (let y = 0; y < height; y++) {
    const yEmbed = f(f(f(y + 1) / yDen) * scale);
    for (let x = 0; x < width; x++) {
      const xEmbed = f(f(f(x + 1) / xDen) * scale);
      const base = (y * width + x) * channels;
      for (let k = 0; k < perAxis; k++) {
        const py = f(yEmbed / dimT[k]);
        const px = f(xEmbed / dimT[k]);
        out[base + k] = k % 2 === 0 ? Math.sin(py) : Math.cos(py);
        out[base + perAxis + k] = k % 2 === 0 ? Math.sin(px) : Math.cos(px);
      }
    }
  }
  return out;
}

/** The encoding as a constant [H*W, channels] tensor (no gradient; the seed keeps it as a buffer). */
export function sinePositionEmbedding(height: number, width: number, channels: number): tf.Tensor2D {
  return tf.tensor2d(sinePositionValues(height, width, channels), [height * width, channels]);
}
