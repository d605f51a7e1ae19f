import type { EncodedRecipe } from '../data/text/encode.js';
import { readFeatureRows, type FeatureRow } from '../features/feature-rows.js';
import type { EmbeddingMatrix } from './embeddings.js';

/** Image embeddings of a batch: e_I, and ẽ_I when the model can debias. Row-major [N, E]. */
export interface ImageEmbeddings {
  plain: Float32Array;
  debiased?: Float32Array;
}

/**
 * What evaluation from cached features needs from a model (the TF.js weights being trained, or a
 * checkpoint): embed backbone feature maps and encoded recipes into the shared space. An ONNX
 * export is evaluated from photos through its own graphs instead (runners/evaluate-export.ts).
 */
export interface RetrievalModel {
  readonly embeddingDim: number;
  /** Whether embedImages also returns ẽ_I (the model has Wv and an ingredient dictionary). */
  readonly canDebias: boolean;
  /** Backbone feature maps, NHWC float32 [count, 7, 7, C] row-major. */
  embedImages(features: Float32Array, shape: readonly [number, number, number, number]): ImageEmbeddings;
  embedRecipes(recipes: readonly EncodedRecipe[]): Float32Array;
}

export const EMBED_BATCH = 32;

export interface ImageMatrices {
  plain: EmbeddingMatrix;
  debiased?: EmbeddingMatrix;
}

/** Embed feature rows in batches (features are read batch by batch, never all at once). */
export function embedImageRows(model: RetrievalModel, rows: readonly FeatureRow[], batchSize = EMBED_BATCH): ImageMatrices {
  const dim = model.embeddingDim;
  const plain = new Float32Array(rows.length * dim);
  const debiased = model.canDebias ? new Float32Array(rows.length * dim) : undefined;
  for (let start = 0; start < rows.length; start += batchSize) {
    const { values, shape } = readFeatureRows(rows.slice(start, start + batchSize));
    const out = model.embedImages(values, shape);
    plain.set(out.plain, start * dim);
    if (debiased && out.debiased) debiased.set(out.debiased, start * dim);
  }
  return {
    plain: { values: plain, rows: rows.length, dim },
    debiased: debiased ? { values: debiased, rows: rows.length, dim } : undefined,
  };
}

export function embedRecipeList(model: RetrievalModel, recipes: readonly EncodedRecipe[], batchSize = EMBED_BATCH): EmbeddingMatrix {
  const dim = model.embeddingDim;
  const values = new Float32Array(recipes.length * dim);
  for (let start = 0; start < recipes.length; start += batchSize) {
    values.set(model.embedRecipes(recipes.slice(start, start + batchSize)), start * dim);
  }
  return { values, rows: recipes.length, dim };
}
