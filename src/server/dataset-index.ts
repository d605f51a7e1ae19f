import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RecipeDataset } from '../data/dataset.js';
import type { Recipe, Split } from '../data/recipe.js';
import { buildRecipeIndex } from '../index/build.js';
import type { IndexManifest } from '../index/manifest.js';
import { discardEmbeddingProgress, embedRecipesResumable } from '../index/resumable-embed.js';
import { saveRecipeIndex } from '../index/store.js';
import { InferencePool } from '../runtime/inference-pool.js';
import type { Device, Provider } from '../runtime/session-factory.js';
import { UserError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { openExportedModel } from './exported-model.js';
import { embedRecipes, RECIPE_PADDING } from './recipe-tensors.js';

export interface DatasetIndexOptions {
  datasetRoot: string;
  split: Split;
  /** Add the split's text-only recipes (`<split>_noimages.pkl`) to the gallery. */
  withNoImages?: boolean;
  modelDir: string;
  outDir: string;
  device?: Device;
  /** Recipes per committed chunk (a resumed run restarts at a chunk boundary). Default 64. */
  batchSize?: number;
  workers?: number;
  hnsw?: { M?: number; efConstruction?: number; efSearch?: number };
  log?: (line: string) => void;
  /** Called after every committed chunk with the rows embedded so far. */
  onProgress?: (done: number, total: number) => void;
  /** Stops before the next chunk (what is committed stays for a resumed run). */
  signal?: AbortSignal;
}

export interface DatasetIndexSummary {
  outDir: string;
  count: number;
  paired: number;
  textOnly: number;
  dim: number;
  resumedFrom: number;
  provider: Provider;
  embedSeconds: number;
  buildSeconds: number;
  manifest: IndexManifest;
}

/** Default HNSW search breadth: ~1.0 recall at 10k recipes (bench-results/index.json). */
export const DEFAULT_EF_SEARCH = 400;

/**
 * Embed a split's recipes with the exported recipe encoder (resumable, chunk by chunk) and save an
 * HNSW index with the recipes' display data. The manifest is written last, so the folder is either
 * a complete index or an interrupted build that the next run resumes.
 */
export async function buildDatasetIndex(opts: DatasetIndexOptions): Promise<DatasetIndexSummary> {
  const log = opts.log ?? (() => {});
  const model = await openExportedModel(opts.modelDir);
  const dataset = await RecipeDataset.open(opts.datasetRoot);
  if (!(await dataset.hasSplit(opts.split))) throw new UserError(`${dataset.splitFile(opts.split)}: split file not found`);
  const paired = await dataset.readPaired(opts.split);
  const textOnly = opts.withNoImages ? await dataset.readTextOnly(opts.split) : [];
  const recipes: Recipe[] = [...paired, ...textOnly];
  if (recipes.length === 0) throw new UserError(`${dataset.splitFile(opts.split)}: no recipes to index`);
  log(`indexing ${recipes.length} recipes of ${opts.datasetRoot} ${opts.split} (${paired.length} with photos, ${textOnly.length} text-only) with model ${model.manifest.modelId}`);

  const batchSize = opts.batchSize ?? 64;
  const pool = await InferencePool.create({
    modelPath: model.recipeEncoderPath,
    device: opts.device ?? 'auto',
    workers: opts.workers,
    maxBatch: Math.max(8, Math.ceil(batchSize / 2)),
    padding: RECIPE_PADDING,
    log,
  });
  let embedded;
  const embedStarted = performance.now();
  try {
    let lastReport = 0;
    embedded = await embedRecipesResumable({
      outDir: opts.outDir,
      total: recipes.length,
      batchSize,
      // Progress of another model, dataset or gallery must not be resumed into this one.
      key: `${model.manifestSha256}:${path.resolve(opts.datasetRoot)}:${opts.split}:${opts.withNoImages ? 'with' : 'without'}-noimages`,
      embedBatch: (start, end) => {
        if (opts.signal?.aborted) throw new UserError('indexing interrupted; run the command again to resume');
        return embedRecipes(pool, recipes.slice(start, end), model.vocab);
      },
      onProgress: (done, total) => {
        opts.onProgress?.(done, total);
        const now = performance.now();
        if (done === total || now - lastReport > 1000) {
          lastReport = now;
          const rate = done / Math.max(1e-3, (now - embedStarted) / 1000);
          log(`embedding recipes: ${done}/${total} (${((100 * done) / total).toFixed(0)}%, ${rate.toFixed(1)} recipes/s)`);
        }
      },
      log,
    });
  } finally {
    await pool.close();
  }
  const embedSeconds = (performance.now() - embedStarted) / 1000;

  const index = await buildRecipeIndex({
    embeddings: embedded.embeddings,
    dim: embedded.dim,
    ids: recipes.map((r) => r.id),
    M: opts.hnsw?.M,
    efConstruction: opts.hnsw?.efConstruction,
    efSearch: opts.hnsw?.efSearch ?? DEFAULT_EF_SEARCH,
    onProgress: (added, total) => { if (added === total || added % 4096 === 0) log(`HNSW graph: ${added}/${total}`); },
  });
  const manifest = await saveRecipeIndex(opts.outDir, index, {
    model: { id: model.manifest.modelId, manifestSha256: model.manifestSha256 },
    dataset: { root: portablePath(opts.datasetRoot), split: opts.split },
    recipes,
  });
  await discardEmbeddingProgress(opts.outDir);
  log(`wrote index ${opts.outDir}: ${index.count} recipes, width ${index.dim}`);
  return {
    outDir: opts.outDir,
    count: index.count,
    paired: paired.length,
    textOnly: textOnly.length,
    dim: index.dim,
    resumedFrom: embedded.resumedFrom,
    provider: pool.provider,
    embedSeconds,
    buildSeconds: index.buildMs / 1000,
    manifest,
  };
}

/** A dataset inside the project is recorded relative to its root, so an index folder can move with the checkout. */
export function portablePath(dir: string): string {
  const absolute = path.resolve(dir);
  const relative = path.relative(packageRoot, absolute);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? absolute : relative;
}

/** Where a recorded dataset root is now: relative roots are relative to the project. */
export function resolveRecordedPath(recorded: string): string {
  return path.isAbsolute(recorded) ? recorded : path.join(packageRoot, recorded);
}
