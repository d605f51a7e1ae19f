import { setTimeout as sleep } from 'node:timers/promises';
import { RecipeDataset } from '../data/dataset.js';
import type { Recipe, Split } from '../data/recipe.js';
import { loadTestCrop } from '../data/images/index.js';
import type { Vocabulary } from '../data/text/vocabulary.js';
import { evaluateRetrieval } from '../eval/protocol.js';
import type { RankMetrics } from '../eval/metrics.js';
import { QueueFullError } from '../runtime/errors.js';
import type { InferencePool } from '../runtime/inference-pool.js';
import { UserError } from '../util/errors.js';
import type { PhotoEncoder, PhotoLimits } from './photo-encoder.js';
import { embedRecipes } from './recipe-tensors.js';

export const DIRECTIONS = ['image_to_recipe', 'recipe_to_image'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export interface EvaluationRequest {
  /** Dataset folder, already resolved inside the data folder. */
  root: string;
  /** As the client named it (shown back). */
  dataset: string;
  split: Split;
  /** Pairs per subset; default 1000, or all when the split has fewer. */
  n?: number | 'all';
  runs: number;
  seed: number;
  directions: Direction[];
  debias: boolean;
  /** Add the split's text-only recipes to the image->recipe gallery. */
  withNoImages: boolean;
}

export interface EvaluationProgress {
  phase: 'queued' | 'reading' | 'images' | 'recipes' | 'ranking' | 'done';
  done: number;
  total: number;
}

export interface EvaluationResult {
  pairs: number;
  /** Pairs left out because their first photo could not be read (first few reasons in `skippedExamples`). */
  skipped: number;
  skippedExamples: string[];
  n: number;
  runs: number;
  seed: number;
  galleryExtra: number;
  debias: { requested: boolean; applied: boolean };
  metrics: Partial<Record<Direction, RankMetrics & { std: RankMetrics }>>;
  seconds: number;
}

export interface EvaluationDeps {
  photos: PhotoEncoder;
  recipePool: InferencePool;
  vocab: Vocabulary;
  debiasActive: boolean;
  limits: PhotoLimits;
}

/** Recipes per recipe-pool request: small, so photo searches queued meanwhile wait for little. */
const RECIPE_CHUNK = 8;

/**
 * One evaluation through the serving pools (HT protocol, src/eval): each pair's first photo
 * decoded with the test transform and embedded by the image pool, one photo at a time; recipes in
 * small chunks through the recipe pool. Work goes in small pieces and awaits each, so searches
 * interleave with it instead of queueing behind the whole split.
 */
export async function runEvaluation(
  req: EvaluationRequest, deps: EvaluationDeps, signal: AbortSignal, progress: (p: EvaluationProgress) => void,
): Promise<EvaluationResult> {
  const started = performance.now();
  progress({ phase: 'reading', done: 0, total: 0 });
  const dataset = await RecipeDataset.open(req.root);
  if (!(await dataset.hasSplit(req.split))) throw new UserError(`dataset ${req.dataset} has no ${req.split}.pkl`);
  const paired = await dataset.readPaired(req.split);
  const extra = req.withNoImages ? await dataset.readTextOnly(req.split) : [];

  const imageRows: Float32Array[] = [];
  const kept: Recipe[] = [];
  const skippedExamples: string[] = [];
  let skipped = 0;
  for (const [i, recipe] of paired.entries()) {
    signal.throwIfAborted();
    progress({ phase: 'images', done: i, total: paired.length });
    let crop;
    try {
      crop = await loadTestCrop(dataset.firstImagePath(req.split, recipe), deps.limits);
    } catch (err) {
      skipped++;
      if (skippedExamples.length < 5) skippedExamples.push(`${recipe.id}: ${(err as Error).message}`);
      continue;
    }
    const out = await retryWhenFull(() => deps.photos.encodeCrop(crop), signal);
    imageRows.push(req.debias ? out.debiased : out.embedding);
    kept.push(recipe);
  }
  if (kept.length === 0) throw new UserError(`no pair of ${req.dataset} ${req.split} has a readable photo`);

  const embedAll = async (recipes: readonly Recipe[], offset: number, total: number): Promise<Float32Array[]> => {
    const rows: Float32Array[] = [];
    for (let start = 0; start < recipes.length; start += RECIPE_CHUNK) {
      signal.throwIfAborted();
      progress({ phase: 'recipes', done: offset + start, total });
      rows.push(await retryWhenFull(() => embedRecipes(deps.recipePool, recipes.slice(start, start + RECIPE_CHUNK), deps.vocab, RECIPE_CHUNK), signal));
    }
    return rows;
  };
  const recipeTotal = kept.length + extra.length;
  const recipeValues = concat(await embedAll(kept, 0, recipeTotal));
  const extraValues = extra.length ? concat(await embedAll(extra, kept.length, recipeTotal)) : undefined;

  progress({ phase: 'ranking', done: 0, total: 1 });
  const width = recipeValues.length / kept.length;
  const evaluation = await evaluateRetrieval(
    { values: concat(imageRows), rows: kept.length, dim: width },
    { values: recipeValues, rows: kept.length, dim: width },
    {
      n: req.n ?? (kept.length <= 1000 ? 'all' : 1000), runs: req.runs, seed: req.seed, signal,
      extraRecipes: extraValues ? { values: extraValues, rows: extra.length, dim: width } : undefined,
    },
  );
  progress({ phase: 'done', done: 1, total: 1 });
  const pick = (d: Direction) => {
    const r = d === 'image_to_recipe' ? evaluation.imageToRecipe : evaluation.recipeToImage;
    return { medR: r.medR, r1: r.r1, r5: r.r5, r10: r.r10, std: r.std };
  };
  return {
    pairs: kept.length,
    skipped,
    skippedExamples,
    n: evaluation.n,
    runs: evaluation.runs,
    seed: evaluation.seed,
    galleryExtra: evaluation.galleryExtra,
    debias: { requested: req.debias, applied: req.debias && deps.debiasActive },
    metrics: Object.fromEntries(req.directions.map((d) => [d, pick(d)])),
    seconds: (performance.now() - started) / 1000,
  };
}

/** An evaluation yields to searches: when the pool is full it waits and tries again. */
async function retryWhenFull<T>(work: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (;;) {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(Math.min(1000, Math.max(10, err.retryAfterMs)), undefined, { signal });
    }
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
