import type { RecipeDataset } from '../data/dataset.js';
import type { Recipe, Split } from '../data/recipe.js';
import { encodeRecipe as encodeRecipeText, type EncodedRecipe } from '../data/text/encode.js';
import type { Vocabulary } from '../data/text/vocabulary.js';
import type { FeatureCache } from '../features/cache-reader.js';
import { UserError } from '../util/errors.js';

/** The image-recipe pairs of a split that have a view-0 feature row, in the pickle's order. */
export interface PairSet {
  split: Split;
  ids: string[];
  recipes: EncodedRecipe[];
  /** Feature-cache key (first image name) of each pair. */
  keys: string[];
  /** Paired recipes left out because the cache has no row for their image. */
  withoutFeatures: string[];
}

export function encodeAll(recipes: readonly Recipe[], vocab: Vocabulary): EncodedRecipe[] {
  return recipes.map((r) => encodeRecipeText(r, vocab));
}

/** Pair the split's recipes with their view-0 feature rows; fails when none have one. */
export async function loadPairs(
  dataset: RecipeDataset, split: Split, vocab: Vocabulary, base: FeatureCache,
): Promise<PairSet> {
  if (!(await dataset.hasSplit(split))) throw new UserError(`${dataset.splitFile(split)}: not found (the ${split} split needs recipes with photos)`);
  const recipes = await dataset.readPaired(split);
  const kept: Recipe[] = [];
  const keys: string[] = [];
  const withoutFeatures: string[] = [];
  for (const recipe of recipes) {
    const key = base.keyForRecipe(recipe.id);
    if (key === undefined) withoutFeatures.push(recipe.id);
    else {
      kept.push(recipe);
      keys.push(key);
    }
  }
  if (kept.length === 0) {
    throw new UserError(`the feature cache has no rows for the ${recipes.length} ${split} pairs (run: recipe-retrieval features <root> --split ${split})`);
  }
  return { split, ids: kept.map((r) => r.id), recipes: encodeAll(kept, vocab), keys, withoutFeatures };
}
