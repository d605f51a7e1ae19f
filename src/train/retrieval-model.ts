import * as tf from '@tensorflow/tfjs';
import type { EncodedRecipe } from '../data/text/encode.js';
import type { ModelConfig } from '../model/config.js';
import { forward } from '../model/forward.js';
import type { ParamReader } from '../model/param-store.js';
import type { ImageEmbeddings, RetrievalModel } from '../eval/embed-pairs.js';
import { disposeTokens, recipeTokens } from './batch-tensors.js';

/** A RetrievalModel over TF.js parameters (live training weights or a loaded checkpoint), in eval mode. */
export class TfjsRetrievalModel implements RetrievalModel {
  constructor(
    private readonly params: ParamReader,
    readonly config: ModelConfig,
    /** D [K, recipe width]; debiasing needs it and Wv. */
    private readonly dictionary?: tf.Tensor2D,
  ) {}

  get embeddingDim(): number {
    return this.config.embeddingDim;
  }

  get canDebias(): boolean {
    return this.dictionary !== undefined && this.params.names().includes('Wv.weight');
  }

  embedImages(features: Float32Array, shape: readonly [number, number, number, number]): ImageEmbeddings {
    return tf.tidy(() => {
      const input = tf.tensor4d(features, [...shape], 'float32');
      const out = forward(this.params, this.config, { imageFeatures: input }, {
        training: false, dictionary: this.canDebias ? this.dictionary : undefined,
      });
      const image = out.image!;
      return {
        plain: image.embedding.dataSync() as Float32Array,
        debiased: image.debiased ? (image.debiased.embedding.dataSync() as Float32Array) : undefined,
      };
    });
  }

  embedRecipes(recipes: readonly EncodedRecipe[]): Float32Array {
    const tokens = recipeTokens(recipes);
    try {
      return tf.tidy(() => forward(this.params, this.config, { recipe: tokens }, { training: false }).recipe!.embedding.dataSync() as Float32Array);
    } finally {
      disposeTokens(tokens);
    }
  }
}
