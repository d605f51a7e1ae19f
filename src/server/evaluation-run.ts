import { RecipeDataset } from '../data/dataset.js';
import type { Split } from '../data/recipe.js';
import { evaluateRetrieval, type Direction } from '../eval/protocol.js';
import type { RankMetrics } from '../eval/metrics.js';
import { embedSplit, type SplitEmbeddingDeps } from '../runtime/split-embeddings.js';

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

export interface EvaluationDeps extends SplitEmbeddingDeps {
  debiasActive: boolean;
}

/**
 * One evaluation through the serving pools (HT protocol, src/eval): the split embedded by the
 * shared ONNX path (src/runtime/split-embeddings.ts) one photo at a time, so searches interleave
 * with it, then ranked.
 */
export async function runEvaluation(
  req: EvaluationRequest, deps: EvaluationDeps, signal: AbortSignal, progress: (p: EvaluationProgress) => void,
): Promise<EvaluationResult> {
  const started = performance.now();
  progress({ phase: 'reading', done: 0, total: 0 });
  const dataset = await RecipeDataset.open(req.root);
  const split = await embedSplit(dataset, req.split, deps, {
    withNoImages: req.withNoImages, photoConcurrency: 1, datasetName: req.dataset, signal,
    progress: (phase, done, total) => progress({ phase, done, total }),
  });

  progress({ phase: 'ranking', done: 0, total: 1 });
  const rows = split.kept.length;
  const evaluation = await evaluateRetrieval(
    { values: req.debias ? split.imageDebiased : split.imagePlain, rows, dim: split.dim },
    { values: split.recipes, rows, dim: split.dim },
    {
      n: req.n ?? (rows <= 1000 ? 'all' : 1000), runs: req.runs, seed: req.seed, signal,
      extraRecipes: split.extra ? { values: split.extra.values, rows: split.extra.rows, dim: split.dim } : undefined,
    },
  );
  progress({ phase: 'done', done: 1, total: 1 });
  const pick = (d: Direction) => {
    const r = d === 'image_to_recipe' ? evaluation.imageToRecipe : evaluation.recipeToImage;
    return { medR: r.medR, r1: r.r1, r5: r.r5, r10: r.r10, std: r.std };
  };
  return {
    pairs: rows,
    skipped: split.skipped,
    skippedExamples: split.skippedExamples,
    n: evaluation.n,
    runs: evaluation.runs,
    seed: evaluation.seed,
    galleryExtra: evaluation.galleryExtra,
    debias: { requested: req.debias, applied: req.debias && deps.debiasActive },
    metrics: Object.fromEntries(req.directions.map((d) => [d, pick(d)])),
    seconds: (performance.now() - started) / 1000,
  };
}
