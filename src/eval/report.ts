import type { Split } from '../data/recipe.js';
import { UserError } from '../util/errors.js';
import type { EmbeddingMatrix } from './embeddings.js';
import type { RankMetrics } from './metrics.js';
import { evaluateRetrieval, type DirectionResult } from './protocol.js';

/**
 * The report of `evaluate` (its --json output, which export and import-checkpoint record in a
 * manifest) and the ranking that fills it, shared by both model formats so a run and its export
 * report alike.
 */

export interface MetricsWithStd extends RankMetrics {
  std: RankMetrics;
}

export interface DirectionsResult {
  imageToRecipe: MetricsWithStd;
  recipeToImage: MetricsWithStd;
}

/** A TF.js run or checkpoint folder evaluated from its cached features (runners/model-source.ts). */
export interface RunAbout {
  dir: string;
  format: 'tfjs-checkpoint';
  checkpoint: string;
  stage: string;
  epoch: number;
  /** Weights replaced by a fresh random initialisation (chance-level reference). */
  randomInit: boolean;
}

/** An ONNX export folder (src/export, src/import) evaluated from the split's photos. */
export interface ExportAbout {
  dir: string;
  format: 'onnx-export';
  modelId: string;
  /** Training stage of the exported checkpoint, as the manifest records it. */
  stage: string;
  epoch?: number;
  /** Name of the run (or checkpoint) the export was made from. */
  sourceRun: string;
  /** Where onnxruntime ran the graphs. */
  provider: 'cuda' | 'cpu';
  /** Image encoder precision (int8: the graph quantize made). */
  precision: 'fp32' | 'int8';
  randomInit: false;
}

export interface EvaluationReport {
  model: RunAbout | ExportAbout;
  split: Split;
  pairs: number;
  /** Run folders: paired recipes of the split without a cached feature row (left out). */
  pairsWithoutFeatures?: number;
  /** Exports: paired recipes whose first photo could not be read (left out; first reasons in `skippedExamples`). */
  pairsWithoutPhotos?: number;
  skippedExamples?: string[];
  n: number;
  runs: number;
  seed: number;
  results: {
    /** e_I: the image embedding without debiasing (the only one of a stage-1 model). */
    plain: DirectionsResult;
    /** ẽ_I = e_I + pi V, when the model has Wv and a dictionary. */
    debiased?: DirectionsResult;
    /** Expected metrics of a random ranking of the same candidates. */
    chance: { imageToRecipe: RankMetrics; recipeToImage: RankMetrics };
  };
  /** --with-noimages: image->recipe with the split's text-only recipes added to every gallery. */
  withNoImages?: {
    extraRecipes: number;
    gallery: number;
    plain: { imageToRecipe: MetricsWithStd };
    debiased?: { imageToRecipe: MetricsWithStd };
    chance: { imageToRecipe: RankMetrics };
  };
  seconds: number;
}

/**
 * Chance level: with G candidates in random order the true match's rank is uniform on 1..G, so
 * R@K = min(K, G) / G and the median rank is (G + 1) / 2.
 */
export function chanceMetrics(gallery: number): RankMetrics {
  const recall = (k: number) => (100 * Math.min(k, gallery)) / gallery;
  return { medR: (gallery + 1) / 2, r1: recall(1), r5: recall(5), r10: recall(10) };
}

function withStd(d: DirectionResult): MetricsWithStd {
  return { medR: d.medR, r1: d.r1, r5: d.r5, r10: d.r10, std: d.std };
}

/** A split embedded by some model: row i of `images` and of `recipes` is pair i. */
export interface SplitMatrices {
  images: { plain: EmbeddingMatrix; debiased?: EmbeddingMatrix };
  recipes: EmbeddingMatrix;
  /** The split's text-only recipes (--with-noimages). */
  extra?: EmbeddingMatrix;
}

export interface RankOptions {
  split: Split;
  /** Pairs per subset; undefined: 1000, or every pair when the split has fewer. */
  n?: number | 'all';
  runs: number;
  seed: number;
  log: (line: string) => void;
}

export type RankedResults = Pick<EvaluationReport, 'n' | 'runs' | 'results' | 'withNoImages'>;

/**
 * Rank embedded pairs by the protocol (plain, debiased when present, chance, and the gallery with
 * text-only recipes): one place for both model formats, so a run and its export report alike.
 */
export async function rankSplit(m: SplitMatrices, opts: RankOptions): Promise<RankedResults> {
  const count = m.recipes.rows;
  const n = opts.n ?? (count > 1000 ? 1000 : 'all');
  if (n !== 'all' && n > count) throw new UserError(`--n ${n} is larger than the ${count} ${opts.split} pairs with features (use --n all)`);
  const protocol = { n, runs: opts.runs, seed: opts.seed, log: opts.log };
  const rank = async (imageSide: EmbeddingMatrix, extraRecipes?: EmbeddingMatrix) => evaluateRetrieval(imageSide, m.recipes, { ...protocol, extraRecipes });
  const plain = await rank(m.images.plain);
  const size = plain.n;
  const ranked: RankedResults = {
    n: size,
    runs: plain.runs,
    results: {
      plain: { imageToRecipe: withStd(plain.imageToRecipe), recipeToImage: withStd(plain.recipeToImage) },
      chance: { imageToRecipe: chanceMetrics(size), recipeToImage: chanceMetrics(size) },
    },
  };
  if (m.images.debiased) {
    const debiased = await rank(m.images.debiased);
    ranked.results.debiased = { imageToRecipe: withStd(debiased.imageToRecipe), recipeToImage: withStd(debiased.recipeToImage) };
  }
  if (m.extra) {
    const plainExtra = await rank(m.images.plain, m.extra);
    ranked.withNoImages = {
      extraRecipes: m.extra.rows,
      gallery: size + m.extra.rows,
      plain: { imageToRecipe: withStd(plainExtra.imageToRecipe) },
      chance: { imageToRecipe: chanceMetrics(size + m.extra.rows) },
    };
    if (m.images.debiased) {
      ranked.withNoImages.debiased = { imageToRecipe: withStd((await rank(m.images.debiased, m.extra)).imageToRecipe) };
    }
  }
  return ranked;
}

