import { performance } from 'node:perf_hooks';
import type { IndexedRecipe, LoadedRecipeIndex } from '../index/store.js';
import { MAX_EF, MAX_K } from '../index/recipe-index.js';
import { ApiError } from './http-errors.js';
import { ImageCatalog } from './image-catalog.js';
import { predictIngredients, type PredictedIngredient } from './ingredients.js';
import type { EncodedPhoto, PhotoEncoder } from '../runtime/photo-encoder.js';
import { addStage, type StageTrace } from '../runtime/stage-trace.js';

export interface SearchParams {
  k: number;
  debias: boolean;
  ef?: number;
}

export interface RecipeView {
  id: string;
  title: string;
  ingredients: string[];
  instructions: string[];
  images: { name: string; url: string }[];
  /** The dataset split the recipe comes from (an index may span several). */
  split: string;
}

export interface RankedRecipe extends RecipeView {
  rank: number;
  /** Cosine similarity between the photo's embedding and the recipe's. */
  score: number;
}

export interface SearchResult {
  recipes: RankedRecipe[];
  ingredients: PredictedIngredient[];
  debias: { requested: boolean; applied: boolean };
  timings: { decodeMs: number; encodeMs: number; searchMs: number; totalMs: number };
}

export function recipeView(recipe: IndexedRecipe): RecipeView {
  return {
    id: recipe.id,
    title: recipe.title,
    ingredients: recipe.ingredients,
    instructions: recipe.instructions,
    images: recipe.images.map((name) => ({ name, url: ImageCatalog.url(name) })),
    split: recipe.split,
  };
}

/** Check k and ef against the index's bounds (k 1..100, ef k..1000). */
export function checkSearchParams(params: SearchParams): void {
  if (!Number.isInteger(params.k) || params.k < 1 || params.k > MAX_K) throw new ApiError('invalid_parameter', `k must be an integer from 1 to ${MAX_K}`);
  if (params.ef !== undefined && (!Number.isInteger(params.ef) || params.ef < params.k || params.ef > MAX_EF)) {
    throw new ApiError('invalid_parameter', `ef must be an integer from k (${params.k}) to ${MAX_EF}`);
  }
}

/** One photo in, ranked recipes and predicted ingredients out. */
export class SearchService {
  constructor(
    private readonly photos: PhotoEncoder,
    private readonly index: LoadedRecipeIndex,
    private readonly labels: readonly string[],
    /** Whether the model's debiased output differs from the plain one (a stage-2 export). */
    private readonly debiasActive: boolean,
    private readonly observeStage: (stage: 'decode' | 'encode' | 'search', ms: number) => void = () => {},
  ) {}

  /** `trace` receives the photo's stages (see PhotoEncoder.encode), then search and post (ingredients, result). */
  async search(photo: Uint8Array, params: SearchParams, trace?: StageTrace): Promise<SearchResult> {
    checkSearchParams(params);
    const started = performance.now();
    const encoded = await this.photos.encode(photo, trace);
    return this.rank(encoded, params, started, trace);
  }

  rank(encoded: EncodedPhoto, params: SearchParams, started: number, trace?: StageTrace): SearchResult {
    const searchStarted = performance.now();
    const query = params.debias ? encoded.debiased : encoded.embedding;
    const hits = this.index.index.search(query, { k: params.k, ef: params.ef });
    const searchMs = performance.now() - searchStarted;
    this.observeStage('decode', encoded.decodeMs);
    this.observeStage('encode', encoded.encodeMs);
    this.observeStage('search', searchMs);
    const result: SearchResult = {
      recipes: hits.map((hit, i) => {
        const { id, ...view } = recipeView(this.index.recipes[hit.row]);
        return { rank: i + 1, id, score: hit.score, ...view };
      }),
      ingredients: predictIngredients(encoded.logits, this.labels),
      debias: { requested: params.debias, applied: params.debias && this.debiasActive },
      timings: { decodeMs: encoded.decodeMs, encodeMs: encoded.encodeMs, searchMs, totalMs: performance.now() - started },
    };
    addStage(trace, 'search', searchMs);
    addStage(trace, 'post', performance.now() - searchStarted - searchMs);
    return result;
  }
}
