import * as tf from '@tensorflow/tfjs';
import { batchRecipes } from '../data/text/batch.js';
import type { EncodedRecipe } from '../data/text/encode.js';
import { readFeatureRows, type FeatureRow } from '../features/feature-rows.js';
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
