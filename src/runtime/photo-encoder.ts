import { performance } from 'node:perf_hooks';
import { loadTestCrop, probeImage, type RgbImage } from '../data/images/index.js';
import { DEBIASED_OUTPUT, EMBEDDING_OUTPUT, IMAGE_INPUT, IMAGE_SIZE, LOGITS_OUTPUT } from '../model-format/io-spec.js';
import type { Arrival, InferencePool } from './inference-pool.js';
import { Semaphore, WeightedSemaphore } from './semaphore.js';
import { addStage, type StageTrace } from './stage-trace.js';

/** The pool's own stages: what is left of the encode time after them is the caller's resumption. */
const POOL_STAGES = ['queue', 'merge', 'toWorker', 'tensor', 'ort', 'outputs', 'fromWorker', 'split'];

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

  /** `trace` receives header, decodeWait (for a free worker and a decode slot), decode (decode + crop) and the encode's stages. */
  async encode(photo: Uint8Array | string, trace?: StageTrace): Promise<EncodedPhoto> {
    const started = performance.now();
    // The header once (size, format, pixel count checked; decoding reuses it): what the decode will hold.
    const probe = await probeImage(photo, this.limits);
    const headerDone = performance.now();
    addStage(trace, 'header', headerDone - started);
    // Announced to the pool (photos decoded together run together), and decoded between session runs,
    // not during one: on a small machine a decode beside a run slows the run down more than it gains.
    const arrival = this.pool.announce();
    let decodeStarted = headerDone;
    try {
      await this.pool.whenFree();
      const crop = await this.pixels.use(probe.pixels, () => this.decodes.use(() => {
        decodeStarted = performance.now();
        return loadTestCrop(probe, this.limits);
      }));
      const decoded = performance.now();
      addStage(trace, 'decodeWait', decodeStarted - headerDone);
      addStage(trace, 'decode', decoded - decodeStarted);
      const out = await this.encodeCrop(crop, trace, arrival);
      return { ...out, decodeMs: decoded - started, encodeMs: performance.now() - decoded };
    } finally {
      arrival.cancel(); // run() fulfils it on entry; this covers a photo that never got there
    }
  }

  /** `trace` receives the pool's stages and `resume`: from the pool's answer to this code running again. */
  async encodeCrop(crop: RgbImage, trace?: StageTrace, arrival?: Arrival): Promise<PhotoEmbedding> {
    const started = performance.now();
    const poolTrace: StageTrace | undefined = trace ? {} : undefined;
    // Our own copy of the crop (sharp's buffers cannot be moved between threads), handed to the pool:
    // a memcpy here is cheaper than the structured clone a worker message would otherwise make.
    const data = new Uint8Array(crop.data);
    const out = await this.pool.run({ [IMAGE_INPUT]: { type: 'uint8', dims: [1, IMAGE_SIZE, IMAGE_SIZE, 3], data } }, { trace: poolTrace, handOver: true, arrival });
    if (trace && poolTrace) {
      for (const [stage, ms] of Object.entries(poolTrace)) addStage(trace, stage, ms);
      const accounted = POOL_STAGES.reduce((sum, stage) => sum + (poolTrace[stage] ?? 0), 0);
      addStage(trace, 'resume', performance.now() - started - accounted);
    }
    return {
      embedding: out[EMBEDDING_OUTPUT].data as Float32Array,
      debiased: out[DEBIASED_OUTPUT].data as Float32Array,
      logits: out[LOGITS_OUTPUT].data as Float32Array,
    };
  }
}
