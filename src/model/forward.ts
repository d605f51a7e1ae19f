import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.js';
import type { ModelConfig } from './config.js';
import type { ParamReader } from './param-store.js';
import type { ComponentName, LineComponentName, ProjectionKey } from './components.js';
import { SeedStream, type LayerContext } from './layer-context.js';
import { encodeRecipe, type RecipeTokens } from './recipe-encoder.js';
import { projectComponents, recipeEmbedding } from './recipe-embedding.js';
import { imageEmbedding } from './image-head.js';
import { classifyIngredients } from './query2labels.js';
import { debiasImageEmbedding, type DebiasOutputs } from './debias.js';

export interface ModelBatch {
  /** Backbone feature maps F, NHWC float32 [N, 7, 7, C]. */
  imageFeatures?: tf.Tensor4D;
  recipe?: RecipeTokens;
}

export interface ForwardOptions {
  /** Dropout on (train) or off (eval). */
  training: boolean;
  /** Run the query2labels head (implied by `dictionary`). Stage 1 does not need it. */
  classify?: boolean;
  /** The ingredient dictionary D [K, recipe width]: turns on debiasing (needs `Wv`). */
  dictionary?: tf.Tensor2D;
  /** Seed of the dropout masks (random when absent). */
  dropoutSeed?: string;
  /**
   * Gradient checkpointing of the transformer blocks (default: on while training): backprop keeps
   * block inputs only and recomputes each block, trading ~1/3 more compute for far less memory.
   */
  checkpoint?: boolean;
  /** Collect ReLU gate margins of the feed-forward blocks (see LayerContext.gateMargins). */
  gateMargins?: Map<string, number>;
}

export interface ImageOutputs {
  /** e_I [N, E] (before debiasing). */
  embedding: tf.Tensor2D;
  /** Ingredient logits [N, K], when the classifier ran. */
  logits?: tf.Tensor2D;
  /** Classifier encoder output [N, HW, width] and decoder output [N, K, width], when it ran. */
  classifierMemory?: tf.Tensor3D;
  classifierDecoded?: tf.Tensor3D;
  /** Debiasing results, when a dictionary was given. */
  debiased?: DebiasOutputs;
}

export interface RecipeOutputs {
  /** e_R [N, E]. */
  embedding: tf.Tensor2D;
  /** f_t, f_i, f_s [N, recipe width]. */
  features: Record<ComponentName, tf.Tensor2D>;
  /** P[a->b](f_a) [N, recipe width]. */
  projections: Record<ProjectionKey, tf.Tensor2D>;
  /** First-level line vectors [N*L, recipe width] (row b*L + l). */
  lines: Record<LineComponentName, tf.Tensor2D>;
}

export interface ModelOutputs {
  image?: ImageOutputs;
  recipe?: RecipeOutputs;
}

function checkImageFeatures(config: ModelConfig, features: tf.Tensor4D): void {
  if (features.rank !== 4 || features.shape[3] !== config.backboneChannels) {
    throw new UserError(
      `image features have shape [${features.shape}], expected [N, H, W, ${config.backboneChannels}] (NHWC)`,
    );
  }
}

function checkTokens(tokens: RecipeTokens): void {
  const n = tokens.title.shape[0];
  const parts: Array<[string, tf.Tensor, number]> = [
    ['title', tokens.title, 2], ['ingredients', tokens.ingredients, 3], ['instructions', tokens.instructions, 3],
  ];
  for (const [name, t, rank] of parts) {
    if (t.rank !== rank || t.shape[0] !== n) {
      throw new UserError(`recipe ${name} tokens have shape [${t.shape}]; expected rank ${rank} with batch ${n}`);
    }
    if (t.dtype !== 'int32') throw new UserError(`recipe ${name} tokens must be int32 (got ${t.dtype})`);
  }
}

/**
 * The whole model on a batch: image side (e_I, optional logits and debiasing) and recipe side
 * (f_t, f_i, f_s, e_R, projections, line vectors), each computed when its inputs are given.
 * Call inside tf.tidy or ParamStore.valueAndGrads; the outputs are new tensors.
 */
export function forward(
  params: ParamReader, config: ModelConfig, batch: ModelBatch, options: ForwardOptions,
): ModelOutputs {
  const ctx: LayerContext = {
    training: options.training,
    dropout: config.dropout,
    layerNormEps: config.layerNormEps,
    seeds: options.dropoutSeed === undefined ? SeedStream.random() : new SeedStream(options.dropoutSeed),
    checkpoint: options.checkpoint ?? options.training,
    gateMargins: options.gateMargins,
  };
  const outputs: ModelOutputs = {};
  if (batch.imageFeatures) {
    checkImageFeatures(config, batch.imageFeatures);
    const image: ImageOutputs = { embedding: imageEmbedding(params, batch.imageFeatures) };
    if (options.classify || options.dictionary) {
      const cls = classifyIngredients(params, config, batch.imageFeatures, ctx);
      image.logits = cls.logits;
      image.classifierMemory = cls.memory;
      image.classifierDecoded = cls.decoded;
      if (options.dictionary) {
        if (!params.names().includes('Wv.weight')) {
          throw new UserError('debiasing needs the Wv projection: load a stage-2 model (or add Wv to a stage-1 one)');
        }
        const [k, width] = options.dictionary.shape;
        if (k !== config.classifier.labels || width !== config.recipe.width) {
          throw new UserError(
            `ingredient dictionary has shape [${k}, ${width}], expected [${config.classifier.labels}, ${config.recipe.width}]`,
          );
        }
        image.debiased = debiasImageEmbedding(params, image.embedding, cls.logits, options.dictionary);
      }
    }
    outputs.image = image;
  }
  if (batch.recipe) {
    checkTokens(batch.recipe);
    const encoded = encodeRecipe(params, config, batch.recipe, ctx);
    outputs.recipe = {
      embedding: recipeEmbedding(params, encoded.features),
      features: encoded.features,
      projections: projectComponents(params, encoded.features),
      lines: encoded.lines,
    };
  }
  return outputs;
}
