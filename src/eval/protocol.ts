import { UserError } from '../util/errors.js';
import { checkEmbeddings, gatherRows, l2NormalizeRows, type EmbeddingMatrix } from './embeddings.js';
import type { KernelChoice, KernelName } from './kernels/similarity-kernel.js';
import { loadSimilarityKernel } from './kernels/select-kernel.js';
import { rankMetrics, summarizeRuns, type RankMetrics } from './metrics.js';
import { rankTrueMatches } from './ranks.js';
import { drawSubsets } from './subsets.js';

/** The protocol's two retrieval directions, as the HTTP API names them. */
export const DIRECTIONS = ['image_to_recipe', 'recipe_to_image'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export interface EvaluationOptions {
  /** Pairs per subset, or 'all' (every pair, ranked once). */
  n: number | 'all';
  /** Random subsets to average over (default 10). Ignored for 'all'. */
  runs?: number;
  /** Seed of the subset draws (default 0): the same seed gives the same subsets. */
  seed?: number;
  /** Extra recipes (m x d, e.g. text-only recipes): gallery distractors for image queries only. */
  extraRecipes?: EmbeddingMatrix;
  /** Dot-product kernel (default 'auto': wasm, else pure JS). */
  similarityKernel?: KernelChoice;
  /** Block sizes of the rank computation (tests use small ones to cross block edges). */
  rowBlock?: number;
  columnChunk?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface DirectionResult extends RankMetrics {
  /** Population standard deviation of each metric over the runs (all 0 for a single run). */
  std: RankMetrics;
  runs: RankMetrics[];
}

export interface RetrievalEvaluation {
  imageToRecipe: DirectionResult;
  recipeToImage: DirectionResult;
  /** Pairs per ranking run (the total for 'all'). */
  n: number;
  /** Runs actually made (1 when every pair is used). */
  runs: number;
  seed: number;
  /** Extra recipes appended to every image query's gallery. */
  galleryExtra: number;
  /** Pairs available; `all` is true when each run used all of them. */
  pairs: number;
  all: boolean;
  dim: number;
  kernel: KernelName;
  /** All-zero embeddings (normalised to zero: they tie with every candidate, so they rank 1). */
  zeroEmbeddings: { images: number; recipes: number; extraRecipes: number };
  seconds: number;
}

/**
 * The retrieval protocol of HT (DESIGN "Evaluation protocol"): images and recipes are row-major
 * n x d embeddings, row i of each being pair i. Cosine similarity; rank of the true match =
 * 1 + number of candidates strictly more similar (ties count in the query's favour), in both
 * directions. For subset size N, `runs` subsets of N pairs are drawn without replacement (seeded)
 * and ranked independently; the result is the mean over runs of medR and R@1/5/10 (percent),
 * with per-run values and their std.
 *
 * N = 'all' (or N equal to the number of pairs) ranks every pair once: every subset would hold the
 * same pairs and give the same numbers. Extra recipes are always all in the gallery, whatever the
 * subset, and are never queries: they change image->recipe only.
 */
export async function evaluateRetrieval(images: EmbeddingMatrix, recipes: EmbeddingMatrix, options: EvaluationOptions): Promise<RetrievalEvaluation> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  checkEmbeddings(images, 'image embeddings');
  checkEmbeddings(recipes, 'recipe embeddings');
  if (images.rows !== recipes.rows) {
    throw new UserError(`image and recipe embeddings must pair row by row: ${images.rows} images but ${recipes.rows} recipes`);
  }
  if (images.dim !== recipes.dim) {
    throw new UserError(`image embeddings have dimension ${images.dim} but recipe embeddings ${recipes.dim}`);
  }
  const extra = options.extraRecipes;
  if (extra) {
    checkEmbeddings(extra, 'extra recipe embeddings');
    if (extra.dim !== images.dim) throw new UserError(`extra recipe embeddings have dimension ${extra.dim}, the pairs ${images.dim}`);
  }
  const pairs = images.rows;
  if (pairs === 0) throw new UserError('no image-recipe pairs to evaluate');
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new UserError(`seed must be an integer, got ${seed}`);
  const requestedRuns = options.runs ?? 10;
  if (!Number.isInteger(requestedRuns) || requestedRuns < 1) throw new UserError(`runs must be a positive integer, got ${requestedRuns}`);
  const { n } = options;
  if (n !== 'all') {
    if (!Number.isInteger(n) || n < 1) throw new UserError(`subset size must be a positive integer or 'all', got ${String(n)}`);
    if (n > pairs) throw new UserError(`subset size ${n} is larger than the ${pairs} image-recipe pairs available`);
  }
  const all = n === 'all' || n === pairs;
  const size = all ? pairs : n;

  const kernel = await loadSimilarityKernel(options.similarityKernel ?? 'auto', log);
  const normImages = l2NormalizeRows(images);
  const normRecipes = l2NormalizeRows(recipes);
  const normExtra = extra ? l2NormalizeRows(extra) : undefined;
  const zeroEmbeddings = { images: normImages.zeroRows, recipes: normRecipes.zeroRows, extraRecipes: normExtra?.zeroRows ?? 0 };
  if (zeroEmbeddings.images + zeroEmbeddings.recipes + zeroEmbeddings.extraRecipes > 0) {
    log(`warning: all-zero embeddings (images ${zeroEmbeddings.images}, recipes ${zeroEmbeddings.recipes}, extra ${zeroEmbeddings.extraRecipes}) tie with every candidate`);
  }

  const subsets: (Int32Array | undefined)[] = all ? [undefined] : drawSubsets(pairs, size, requestedRuns, seed);
  const i2r: RankMetrics[] = [];
  const r2i: RankMetrics[] = [];
  for (const [run, subset] of subsets.entries()) {
    const runStart = performance.now();
    const ranks = await rankTrueMatches(
      subset ? gatherRows(normImages.matrix, subset) : normImages.matrix,
      subset ? gatherRows(normRecipes.matrix, subset) : normRecipes.matrix,
      normExtra?.matrix,
      { kernel, rowBlock: options.rowBlock, columnChunk: options.columnChunk, signal: options.signal },
    );
    i2r.push(rankMetrics(ranks.imageToRecipe));
    r2i.push(rankMetrics(ranks.recipeToImage));
    const last = i2r[i2r.length - 1];
    log(`eval run ${run + 1}/${subsets.length} (N=${size}): image->recipe medR ${last.medR} R@1 ${last.r1.toFixed(2)} (${((performance.now() - runStart) / 1000).toFixed(1)} s)`);
  }

  return {
    imageToRecipe: direction(i2r),
    recipeToImage: direction(r2i),
    n: size,
    runs: subsets.length,
    seed,
    galleryExtra: extra?.rows ?? 0,
    pairs,
    all,
    dim: images.dim,
    kernel: kernel.name,
    zeroEmbeddings,
    seconds: (performance.now() - started) / 1000,
  };
}

function direction(runs: RankMetrics[]): DirectionResult {
  const { mean, std } = summarizeRuns(runs);
  return { ...mean, std, runs };
}
