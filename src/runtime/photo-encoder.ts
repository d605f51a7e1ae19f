import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { loadTestCrop, type RgbImage } from '../data/images/index.js';
import { DEBIASED_OUTPUT, EMBEDDING_OUTPUT, IMAGE_INPUT, IMAGE_SIZE, LOGITS_OUTPUT } from '../model-format/io-spec.js';
import type { InferencePool } from './inference-pool.js';
import { Semaphore, WeightedSemaphore } from './semaphore.js';

export interface PhotoLimits {
  /** Largest upload accepted, in bytes. */
  maxBytes: number;
  /** Largest photo accepted, in pixels (checked on the header, before decoding). */
  maxPixels: number;
}

/** The image encoder's three outputs for one photo. */
export interface PhotoEmbedding {
  embedding: Float32Array;
  debiased: Float32Array;
  logits: Float32Array;
}

export interface EncodedPhoto extends PhotoEmbedding {
  /** Decode + test transform. */
  decodeMs: number;
  /** Waiting for and running the image encoder. */
  encodeMs: number;
}

/**
 * Photos -> image encoder outputs: decode and the evaluation's test transform (src/data/images),
 * then the image pool. Decoding is bounded twice: `decodeConcurrency` photos at a time, and
 * `decodePixelBudget` pixels at a time (read from the header first), because each full-size decode
 * holds width x height x 3 bytes until the crop is made: four 50 MP decodes would hold 600 MB.
 */
export class PhotoEncoder {
  private readonly decodes: Semaphore;
  private readonly pixels: WeightedSemaphore;

  constructor(private readonly pool: InferencePool, readonly limits: PhotoLimits, decodeConcurrency = 4, decodePixelBudget = 100_000_000) {
    this.decodes = new Semaphore(decodeConcurrency);
    this.pixels = new WeightedSemaphore(decodePixelBudget);
  }

  async encode(photo: Uint8Array | string): Promise<EncodedPhoto> {
    const started = performance.now();
    const pixels = await headerPixels(photo, this.limits.maxPixels);
    const crop = await this.pixels.use(pixels, () => this.decodes.use(() => loadTestCrop(photo, this.limits)));
    const decoded = performance.now();
    const out = await this.encodeCrop(crop);
    return { ...out, decodeMs: decoded - started, encodeMs: performance.now() - decoded };
  }

  async encodeCrop(crop: RgbImage): Promise<PhotoEmbedding> {
    const out = await this.pool.run({ [IMAGE_INPUT]: { type: 'uint8', dims: [1, IMAGE_SIZE, IMAGE_SIZE, 3], data: crop.data } });
    return {
      embedding: out[EMBEDDING_OUTPUT].data as Float32Array,
      debiased: out[DEBIASED_OUTPUT].data as Float32Array,
      logits: out[LOGITS_OUTPUT].data as Float32Array,
    };
  }
}

/**
 * Pixels the decode will hold, from the header alone (cheap); 1 when the header cannot be read or
 * is over the limit: the decode then fails at once with the precise reason.
 */
async function headerPixels(photo: Uint8Array | string, maxPixels: number): Promise<number> {
  if (typeof photo === 'string') return 1;
  try {
    const meta = await sharp(photo, { limitInputPixels: false }).metadata();
    const n = (meta.width ?? 0) * (meta.height ?? 0);
    return n > 0 && n <= maxPixels ? n : 1;
  } catch {
    return 1;
  }
}
