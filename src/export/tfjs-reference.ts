import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../backbone/resnet50.js';
import { toCaffeNhwcBatch, type RgbImage } from '../data/images/index.js';
import type { RecipeBatch } from '../data/text/batch.js';
import type { ModelConfig } from '../model/config.js';
import { forward } from '../model/forward.js';
import type { ParamReader } from '../model/param-store.js';

/** The image outputs the exported graphs produce, as the TF.js model computes them (row-major). */
export interface ImageHeadResult {
  embedding: Float32Array;
  logits: Float32Array;
  debiased: Float32Array;
}

/** A ParamReader with some values replaced (forced-logit variants of a model). */
export function overrideParams(base: ParamReader, overrides: ReadonlyMap<string, tf.Tensor>): ParamReader {
  return { get: (name) => overrides.get(name) ?? base.get(name), names: () => base.names() };
}

/** The TF.js model (src/model/forward.ts) in eval mode: the reference the ONNX files must reproduce. */
export class TfReference {
  constructor(
    readonly params: ParamReader,
    readonly config: ModelConfig,
    /** D, given only when debiasing is active. */
    private readonly dictionary?: tf.Tensor2D,
  ) {}

  withParams(params: ParamReader): TfReference {
    return new TfReference(params, this.config, this.dictionary);
  }

  /** Feature maps NHWC [n, 7, 7, C] -> e_I, logits, ẽ_I (= e_I without debiasing). */
  imageHead(features: Float32Array, n: number): ImageHeadResult {
    return tf.tidy(() => {
      const input = tf.tensor4d(features, [n, 7, 7, this.config.backboneChannels]);
      const image = forward(this.params, this.config, { imageFeatures: input }, {
        training: false, classify: true, dictionary: this.dictionary,
      }).image!;
      const embedding = image.embedding.dataSync() as Float32Array;
      return {
        embedding,
        logits: image.logits!.dataSync() as Float32Array,
        debiased: image.debiased ? (image.debiased.embedding.dataSync() as Float32Array) : embedding,
      };
    });
  }

  /** e_R of a padded batch. */
  recipes(batch: RecipeBatch): Float32Array {
    return tf.tidy(() => {
      const recipe = {
        title: tf.tensor2d(batch.title.ids, batch.title.shape, 'int32'),
        ingredients: tf.tensor3d(batch.ingredients.ids, batch.ingredients.shape, 'int32'),
        instructions: tf.tensor3d(batch.instructions.ids, batch.instructions.shape, 'int32'),
      };
      return forward(this.params, this.config, { recipe }, { training: false }).recipe!.embedding.dataSync() as Float32Array;
    });
  }
}

/**
 * TF.js ResNet-50 feature maps [n, 7, 7, 2048] of 224x224 crops, computed `chunk` images at a time
 * (the wasm heap would not hold a 64-image forward pass; the result does not depend on the chunking).
 */
export async function tfBackboneFeatures(crops: readonly RgbImage[], chunk = 8): Promise<Float32Array> {
  const backbone = await loadBackbone();
  const rowLength = 7 * 7 * 2048;
  const out = new Float32Array(crops.length * rowLength);
  for (let start = 0; start < crops.length; start += chunk) {
    const part = crops.slice(start, start + chunk);
    const maps = tf.tidy(() => backbone.featureMaps(tf.tensor4d(toCaffeNhwcBatch(part), [part.length, 224, 224, 3])));
    out.set(await maps.data() as Float32Array, start * rowLength);
    maps.dispose();
  }
  return out;
}
