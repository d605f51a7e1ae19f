import type { Recipe } from '../data/recipe.js';
import { batchRecipes } from '../data/text/batch.js';
import { encodeRecipe } from '../data/text/encode.js';
import type { Vocabulary } from '../data/text/vocabulary.js';
import type { PaddingRules } from './batching.js';
import type { InferencePool } from './inference-pool.js';
import type { TensorMap } from './tensor-value.js';
import { EMBEDDING_OUTPUT } from '../model-format/io-spec.js';

/** Requests of different recipes may differ in every length: pad words and lines with 0 when merged. */
export const RECIPE_PADDING: PaddingRules = {
  title: { dims: [1], value: 0 },
  ingredients: { dims: [1, 2], value: 0 },
  instructions: { dims: [1, 2], value: 0 },
};

/** Encode recipes (HT encoding and limits) into the recipe encoder's int64 inputs. */
export function recipeTensors(recipes: readonly Recipe[], vocab: Vocabulary): TensorMap {
  const batch = batchRecipes(recipes.map((r) => encodeRecipe(r, vocab)));
  const int64 = (ids: Int32Array) => BigInt64Array.from(ids, (v) => BigInt(v));
  return {
    title: { type: 'int64', dims: batch.title.shape, data: int64(batch.title.ids) },
    ingredients: { type: 'int64', dims: batch.ingredients.shape, data: int64(batch.ingredients.ids) },
    instructions: { type: 'int64', dims: batch.instructions.shape, data: int64(batch.instructions.ids) },
  };
}

/**
 * Embed recipes through the recipe pool, `requestRows` recipes per pool request, all requests
 * submitted together so that every worker gets a share. Returns rows x dim, in input order.
 */
export async function embedRecipes(pool: InferencePool, recipes: readonly Recipe[], vocab: Vocabulary, requestRows = 8): Promise<Float32Array> {
  const parts: Promise<TensorMap>[] = [];
  for (let start = 0; start < recipes.length; start += requestRows) {
    parts.push(pool.run(recipeTensors(recipes.slice(start, start + requestRows), vocab)));
  }
  const outputs = (await Promise.all(parts)).map((o) => o[EMBEDDING_OUTPUT].data as Float32Array);
  const total = outputs.reduce((n, o) => n + o.length, 0);
  const values = new Float32Array(total);
  let offset = 0;
  for (const o of outputs) {
    values.set(o, offset);
    offset += o.length;
  }
  return values;
}
