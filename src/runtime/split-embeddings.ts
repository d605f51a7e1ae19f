import { setTimeout as sleep } from 'node:timers/promises';
import type { RecipeDataset } from '../data/dataset.js';
import type { Recipe, Split } from '../data/recipe.js';
import { loadTestCrop } from '../data/images/index.js';
import type { Vocabulary } from '../data/text/vocabulary.js';
import { UserError } from '../util/errors.js';
import { QueueFullError } from './errors.js';
import type { InferencePool } from './inference-pool.js';
import type { PhotoEncoder, PhotoLimits } from './photo-encoder.js';
import { embedRecipes } from './recipe-tensors.js';

export interface SplitEmbeddingDeps {
  photos: PhotoEncoder;
  recipePool: InferencePool;
  vocab: Vocabulary;
  limits: PhotoLimits;
}

export interface SplitEmbeddingOptions {
  /** Also embed the split's text-only recipes (the --with-noimages gallery extension). */
  withNoImages: boolean;
  /**
   * Photos decoded and encoded at a time. The server keeps 1 so searches interleave with an
   * evaluation; the evaluate command uses as many as the image pool has workers.
   */
  photoConcurrency?: number;
  /** How messages name the dataset (the server shows the client's name, not its folder). */
  datasetName?: string;
  signal?: AbortSignal;
  progress?: (phase: 'images' | 'recipes', done: number, total: number) => void;
}

/** Row-major [rows, dim] embeddings of a split's pairs, in pair order, through the exported graphs. */
export interface SplitEmbeddings {
  /** Pairs whose first photo was read, in split order (row i of every matrix below). */
  kept: Recipe[];
  /** Pairs left out because their first photo could not be read (first few reasons in `skippedExamples`). */
  skipped: number;
  skippedExamples: string[];
  dim: number;
  /** e_I. */
  imagePlain: Float32Array;
  /** ẽ_I (equal to e_I where the export does not debias). */
  imageDebiased: Float32Array;
  recipes: Float32Array;
  /** The split's text-only recipes, with withNoImages. */
  extra?: { rows: number; values: Float32Array };
}

/** Recipes per recipe-pool request: small, so photo searches queued meanwhile wait for little. */
const RECIPE_CHUNK = 8;

/**
 * The evaluation protocol's embeddings through an exported model (shared by the server's
 * evaluations and `evaluate --model <export>`): each pair's first photo decoded with the test
 * transform and run through image_encoder.onnx, so no feature cache is needed and Keras and
 * torchvision backbones alike see the preprocessing they were exported with; recipes through
 * recipe_encoder.onnx in small chunks. Work goes in small awaited pieces, so other pool users
 * interleave with it instead of queueing behind the whole split.
 */
export async function embedSplit(
  dataset: RecipeDataset, split: Split, deps: SplitEmbeddingDeps, opts: SplitEmbeddingOptions,
): Promise<SplitEmbeddings> {
  const signal = opts.signal ?? new AbortController().signal;
  const progress = opts.progress ?? (() => {});
  const name = opts.datasetName ?? dataset.root;
  if (!(await dataset.hasSplit(split))) throw new UserError(`dataset ${name} has no ${split}.pkl`);
  const paired = await dataset.readPaired(split);
  const extraRecipes = opts.withNoImages ? await dataset.readTextOnly(split) : [];

  // Per pair: its two image rows, or why its photo could not be read; gathered in split order.
  const outcomes: ({ plain: Float32Array; debiased: Float32Array } | { error: string })[] = new Array(paired.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < paired.length) {
      const i = next++;
      signal.throwIfAborted();
      const recipe = paired[i];
      let crop;
      try {
        crop = await loadTestCrop(dataset.firstImagePath(split, recipe), deps.limits);
      } catch (err) {
        outcomes[i] = { error: `${recipe.id}: ${(err as Error).message}` };
        progress('images', ++done, paired.length);
        continue;
      }
      const out = await retryWhenFull(() => deps.photos.encodeCrop(crop), signal);
      outcomes[i] = { plain: out.embedding, debiased: out.debiased };
      progress('images', ++done, paired.length);
    }
  };
  progress('images', 0, paired.length);
  await Promise.all(Array.from({ length: Math.max(1, opts.photoConcurrency ?? 1) }, worker));

  const kept: Recipe[] = [];
  const plainRows: Float32Array[] = [];
  const debiasedRows: Float32Array[] = [];
  const skippedExamples: string[] = [];
  let skipped = 0;
  for (const [i, outcome] of outcomes.entries()) {
    if ('error' in outcome) {
      skipped++;
      if (skippedExamples.length < 5) skippedExamples.push(outcome.error);
      continue;
    }
    kept.push(paired[i]);
    plainRows.push(outcome.plain);
    debiasedRows.push(outcome.debiased);
  }
  if (kept.length === 0) throw new UserError(`no pair of ${name} ${split} has a readable photo`);

  const embedAll = async (recipes: readonly Recipe[], offset: number, total: number): Promise<Float32Array> => {
    const rows: Float32Array[] = [];
    for (let start = 0; start < recipes.length; start += RECIPE_CHUNK) {
      signal.throwIfAborted();
      progress('recipes', offset + start, total);
      rows.push(await retryWhenFull(() => embedRecipes(deps.recipePool, recipes.slice(start, start + RECIPE_CHUNK), deps.vocab, RECIPE_CHUNK), signal));
    }
    return concatRows(rows);
  };
  const recipeTotal = kept.length + extraRecipes.length;
  const recipes = await embedAll(kept, 0, recipeTotal);
  const extra = extraRecipes.length ? { rows: extraRecipes.length, values: await embedAll(extraRecipes, kept.length, recipeTotal) } : undefined;
  progress('recipes', recipeTotal, recipeTotal);
  return {
    kept, skipped, skippedExamples, dim: recipes.length / kept.length,
    imagePlain: concatRows(plainRows), imageDebiased: concatRows(debiasedRows), recipes, extra,
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

function concatRows(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
