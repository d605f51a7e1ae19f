import * as tf from '@tensorflow/tfjs';
import type { Recipe } from '../data/recipe.js';
import { batchRecipes } from '../data/text/batch.js';
import { encodeRecipe as encodeRecipeText, MAX_INGREDIENT_LINES } from '../data/text/encode.js';
import type { Vocabulary } from '../data/text/vocabulary.js';
import type { ModelConfig } from '../model/config.js';
import { embedAll } from '../model/embedding.js';
import { SeedStream, type LayerContext } from '../model/layer-context.js';
import type { ParamReader } from '../model/param-store.js';
import { encodeLineWords } from '../model/recipe-encoder.js';
import { UserError } from '../util/errors.js';

export interface DictionaryResult {
  /** D [K, recipe width], row-major. */
  values: Float32Array;
  counts: number[];
  emptyLabels: number[];
  recipesWithoutPositions: number;
  linesUsed: number;
  linesBeyondLimit: number;
}

export interface DictionaryInputs {
  params: ParamReader;
  config: ModelConfig;
  vocab: Vocabulary;
  /** Training recipes (paired and text-only: id2pos covers both). */
  recipes: readonly Recipe[];
  /** id2pos_train: recipe id -> {ingredient line index over the full list -> label}. */
  positions: ReadonlyMap<string, ReadonlyMap<number, number>>;
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
}

/**
 * Stage 2a: D[c] = mean of the first-level line vectors (ingredient-line block, model in eval mode)
 * of every training ingredient line that carries label c. Only the word-level line block runs: the
 * list blocks, title and instructions do not change a line vector. Lines past the model's 20-line
 * limit have no vector and are counted, not used. A label with no line keeps a zero row; then
 * V[c] = Wv(0) = b_v, the bias every row of V shares, so D contributes nothing for that label.
 */
export function buildDictionary(inputs: DictionaryInputs): DictionaryResult {
  const { params, config, vocab, recipes, positions } = inputs;
  const k = config.classifier.labels;
  const width = config.recipe.width;
  const sums = new Float64Array(k * width);
  const counts = new Array<number>(k).fill(0);
  let recipesWithoutPositions = 0;
  let linesUsed = 0;
  let linesBeyondLimit = 0;
  const ctx: LayerContext = {
    training: false, dropout: config.dropout, layerNormEps: config.layerNormEps,
    seeds: new SeedStream('dictionary'), checkpoint: false,
  };
  const batchSize = inputs.batchSize ?? 64;
  for (let start = 0; start < recipes.length; start += batchSize) {
    const chunk = recipes.slice(start, start + batchSize);
    const wanted = chunk.map((recipe) => {
      const lines = positions.get(recipe.id);
      if (!lines) recipesWithoutPositions++;
      const used: Array<[line: number, label: number]> = [];
      for (const [line, label] of lines ?? []) {
        if (line >= recipe.ingredients.length) {
          throw new UserError(`id2pos_train: recipe ${recipe.id} has a label on ingredient line ${line} but only ${recipe.ingredients.length} lines (label files from another dataset?)`);
        }
        if (line >= MAX_INGREDIENT_LINES) linesBeyondLimit++;
        else used.push([line, label]);
      }
      return used;
    });
    if (wanted.every((w) => w.length === 0)) {
      inputs.onBatch?.(Math.min(start + batchSize, recipes.length), recipes.length);
      continue;
    }
    const ingredients = batchRecipes(chunk.map((r) => encodeRecipeText(r, vocab))).ingredients;
    const [, lineCount] = ingredients.shape;
    const vectors = tf.tidy(() => {
      const ids = tf.tensor3d(ingredients.ids, ingredients.shape, 'int32');
      const [embedded] = embedAll(params.get('text_encoder.word_embedding.weight') as tf.Tensor2D, [ids]);
      return encodeLineWords(params, config, 'ingredients', ids, embedded, ctx).dataSync() as Float32Array;
    });
    wanted.forEach((used, b) => {
      for (const [line, label] of used) {
        const src = (b * lineCount + line) * width;
        const dst = label * width;
        for (let j = 0; j < width; j++) sums[dst + j] += vectors[src + j];
        counts[label]++;
        linesUsed++;
      }
    });
    inputs.onBatch?.(Math.min(start + batchSize, recipes.length), recipes.length);
  }
  const values = new Float32Array(k * width);
  const emptyLabels: number[] = [];
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) {
      emptyLabels.push(c);
      continue;
    }
    for (let j = 0; j < width; j++) values[c * width + j] = sums[c * width + j] / counts[c];
  }
  return { values, counts, emptyLabels, recipesWithoutPositions, linesUsed, linesBeyondLimit };
}
