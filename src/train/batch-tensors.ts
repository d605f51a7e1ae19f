import * as tf from '@tensorflow/tfjs';
import { batchRecipes } from '../data/text/batch.js';
import type { EncodedRecipe } from '../data/text/encode.js';
import type { FeatureCache } from '../features/cache-reader.js';
import type { RecipeTokens } from '../model/recipe-encoder.js';

/** Padded int32 token tensors of a batch of encoded recipes (the caller disposes them). */
export function recipeTokens(recipes: readonly EncodedRecipe[]): RecipeTokens {
  const b = batchRecipes(recipes);
  return {
    title: tf.tensor2d(b.title.ids, b.title.shape, 'int32'),
    ingredients: tf.tensor3d(b.ingredients.ids, b.ingredients.shape, 'int32'),
    instructions: tf.tensor3d(b.instructions.ids, b.instructions.shape, 'int32'),
  };
}

export function disposeTokens(tokens: RecipeTokens): void {
  tokens.title.dispose();
  tokens.ingredients.dispose();
  tokens.instructions.dispose();
}

/** One feature row to read: which cache (view) and which key. */
export interface FeatureRow {
  cache: FeatureCache;
  key: string;
}

/** Read rows into one NHWC float32 array [rows, 7, 7, C]. */
export function readFeatureRows(rows: readonly FeatureRow[]): { values: Float32Array; shape: [number, number, number, number] } {
  if (rows.length === 0) throw new Error('no feature rows to read');
  const [h, w, c] = rows[0].cache.shape;
  const rowLength = rows[0].cache.rowLength;
  const values = new Float32Array(rows.length * rowLength);
  rows.forEach(({ cache, key }, i) => {
    if (!cache.readInto(key, values, i * rowLength)) throw new Error(`feature cache ${cache.split}/view-${cache.view} has no row for ${key}`);
  });
  return { values, shape: [rows.length, h, w, c] };
}

export function featureTensor(rows: readonly FeatureRow[]): tf.Tensor4D {
  const { values, shape } = readFeatureRows(rows);
  return tf.tensor4d(values, shape, 'float32');
}

/** Multi-hot targets [N, K] from each recipe's label list. */
export function multiHot(labelLists: readonly (readonly number[])[], numLabels: number): tf.Tensor2D {
  const values = new Float32Array(labelLists.length * numLabels);
  labelLists.forEach((labels, i) => {
    for (const l of labels) values[i * numLabels + l] = 1;
  });
  return tf.tensor2d(values, [labelLists.length, numLabels], 'float32');
}
