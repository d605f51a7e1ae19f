import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.js';
import type { ParamReader } from './param-store.js';
import type { ComponentName, LineComponentName } from './components.js';
import { sequenceBlock } from './sequence-block.js';
import { embedAll } from './embedding.js';
import type { LayerContext } from './layer-context.js';

/** Token ids, int32, 0 = padding (batches pad to the batch maximum). */
export interface RecipeTokens {
  title: tf.Tensor2D; // [N, T]
  ingredients: tf.Tensor3D; // [N, Li, Ti]
  instructions: tf.Tensor3D; // [N, Ls, Ts]
}

export interface RecipeEncoding {
  /** f_t, f_i, f_s: [N, width] each. */
  features: Record<ComponentName, tf.Tensor2D>;
  /** First-level line vectors [N*L, width] (row b*L + l is line l of recipe b): the dictionary's input. */
  lines: Record<LineComponentName, tf.Tensor2D>;
}

function notPadding(ids: tf.Tensor): tf.Tensor {
  return tf.cast(tf.notEqual(ids, 0), 'float32');
}

/**
 * First level of a line list: each line [N, L, T] encoded over its words -> [N*L, width]. Position 0
 * always counts as valid (the seed's `ignore_mask[:, 0] = 0`), so an all-padding line pools to the
 * encoder output at position 0 of a sequence of padding embeddings: defined, not NaN.
 * `embedded` is the word embedding of `ids` ([N, L, T, width]).
 */
export function encodeLineWords(
  params: ParamReader, config: ModelConfig, name: LineComponentName, ids: tf.Tensor3D, embedded: tf.Tensor,
  ctx: LayerContext,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, lineCount, wordCount] = ids.shape;
    const flat = tf.reshape(ids, [n * lineCount, wordCount]);
    // Position 0 of every line counts as valid (an all-padding line pools to a defined vector). Built with
    // pad rather than oneHot, which rejects depth 1 (a batch whose longest line holds a single id).
    const firstColumn = tf.pad(tf.ones([n * lineCount, 1]), [[0, 0], [0, wordCount - 1]]) as tf.Tensor2D;
    const wordValid = tf.maximum(notPadding(flat), firstColumn) as tf.Tensor2D;
    const words = tf.reshape(embedded, [n * lineCount, wordCount, config.recipe.width]) as tf.Tensor3D;
    return sequenceBlock(params, `text_encoder.tfs.${name}`, words, wordValid, config.recipe, ctx);
  });
}

/** Second level: the line vectors of each recipe over the list, all-padding lines masked. */
function encodeLineList(
  params: ParamReader, config: ModelConfig, name: LineComponentName, ids: tf.Tensor3D, lines: tf.Tensor2D,
  ctx: LayerContext,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, lineCount] = ids.shape;
    const lineValid = tf.cast(tf.greater(tf.sum(notPadding(ids), -1), 0), 'float32') as tf.Tensor2D;
    const lineSeq = tf.reshape(lines, [n, lineCount, config.recipe.width]) as tf.Tensor3D;
    return sequenceBlock(params, `text_encoder.merger.${name}`, lineSeq, lineValid, config.recipe, ctx);
  });
}

/** The hierarchical recipe encoder: f_t, f_i, f_s and the per-line vectors. */
export function encodeRecipe(
  params: ParamReader, config: ModelConfig, tokens: RecipeTokens, ctx: LayerContext,
): RecipeEncoding {
  const [titleWords, ingredientWords, instructionWords] = embedAll(
    params.get('text_encoder.word_embedding.weight') as tf.Tensor2D,
    [tokens.title, tokens.ingredients, tokens.instructions],
  );
  const title = sequenceBlock(
    params, 'text_encoder.tfs.title', titleWords as tf.Tensor3D, notPadding(tokens.title) as tf.Tensor2D,
    config.recipe, ctx,
  );
  const ingredientLines = encodeLineWords(params, config, 'ingredients', tokens.ingredients, ingredientWords, ctx);
  const instructionLines = encodeLineWords(params, config, 'instructions', tokens.instructions, instructionWords, ctx);
  return {
    features: {
      title,
      ingredients: encodeLineList(params, config, 'ingredients', tokens.ingredients, ingredientLines, ctx),
      instructions: encodeLineList(params, config, 'instructions', tokens.instructions, instructionLines, ctx),
    },
    lines: { ingredients: ingredientLines, instructions: instructionLines },
  };
}
