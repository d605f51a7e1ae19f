import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RecipeDataset } from '../../data/dataset.js';
import type { Split } from '../../data/recipe.js';
import { buildRecipeIndex } from '../build.js';
import type { IndexManifest } from '../manifest.js';
import { discardEmbeddingProgress, embedRecipesResumable } from '../resumable-embed.js';
import { saveRecipeIndex, type IndexedRecipe } from '../store.js';
import { openModelPools } from '../../runtime/model-pools.js';
import type { Device, Provider } from '../../runtime/session-factory.js';
import { UserError } from '../../util/errors.js';
import { portablePath } from '../../util/portable-path.js';
import { openExportedModel } from '../../model-format/exported-model.js';
import { embedRecipes } from '../../runtime/recipe-tensors.js';

export interface DatasetIndexOptions {
  datasetRoot: string;
  /** Splits to index, in this order; one whose `<split>.pkl` is absent is skipped (with a log line). */
  splits: readonly Split[];
  /** Add each split's text-only recipes (`<split>_noimages.pkl`, when present) to the gallery. */
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
  /** The splits indexed (those asked for whose pickle exists). */
  splits: Split[];
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
 * Embed the recipes of one or more splits with the exported recipe encoder (resumable, chunk by
 * chunk) and save an HNSW index with the recipes' display data, each naming its split (where the
 * server finds its photos). Rows: per split in the order given, the recipes with photos, then the
 * text-only ones. The manifest is written last, so the folder is either a complete index or an
 * interrupted build that the next run resumes.
 */
export async function buildDatasetIndex(opts: DatasetIndexOptions): Promise<DatasetIndexSummary> {
  const log = opts.log ?? (() => {});
  const model = await openExportedModel(opts.modelDir);
  const { recipes, splits, paired, textOnly } = await readSplits(opts.datasetRoot, opts.splits, opts.withNoImages === true, log);
  log(`indexing ${recipes.length} recipes of ${opts.datasetRoot} ${splits.join(', ')} (${paired} with photos, ${textOnly} text-only) with model ${model.manifest.modelId}`);

  const batchSize = opts.batchSize ?? 64;
  const pools = await openModelPools(model, {
    device: opts.device ?? 'auto',
    recipe: { workers: opts.workers, maxBatch: Math.max(8, Math.ceil(batchSize / 2)) },
    log,
  });
  const pool = pools.recipe;
  let embedded;
  const embedStarted = performance.now();
  try {
    let lastReport = 0;
    embedded = await embedRecipesResumable({
      outDir: opts.outDir,
      total: recipes.length,
      batchSize,
      // Progress of another model, dataset or gallery must not be resumed into this one.
      key: `${model.manifestSha256}:${path.resolve(opts.datasetRoot)}:${splits.join(',')}:${opts.withNoImages ? 'with' : 'without'}-noimages`,
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
    await pools.close();
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
    dataset: { root: portablePath(opts.datasetRoot), splits },
    recipes,
  });
  await discardEmbeddingProgress(opts.outDir);
  log(`wrote index ${opts.outDir}: ${index.count} recipes, width ${index.dim}`);
  return {
    outDir: opts.outDir,
    splits,
    count: index.count,
    paired,
    textOnly,
    dim: index.dim,
    resumedFrom: embedded.resumedFrom,
    provider: pool.provider,
    embedSeconds,
    buildSeconds: index.buildMs / 1000,
    manifest,
  };
}

/**
 * The recipes of the splits that exist, each tagged with its split. Refused: no split file at all,
 * no recipe, and a recipe id in two places (the index's rows are addressed by id). An image name
 * listed in two splits is allowed but logged: /v1/images serves the first split's file.
 */
async function readSplits(datasetRoot: string, wanted: readonly Split[], withNoImages: boolean, log: (line: string) => void) {
  if (wanted.length === 0) throw new UserError('no split to index');
  const dataset = await RecipeDataset.open(datasetRoot);
  const recipes: IndexedRecipe[] = [];
  const splits: Split[] = [];
  let paired = 0;
  let textOnly = 0;
  const origin = new Map<string, string>();
  const imageSplit = new Map<string, Split>();
  let sharedImages = 0;
  for (const split of wanted) {
    if (!(await dataset.hasSplit(split))) {
      log(`${dataset.splitFile(split)} not found: split ${split} skipped`);
      continue;
    }
    splits.push(split);
    const withPhotos = await dataset.readPaired(split);
    const textOnlyPart = withNoImages ? await dataset.readTextOnly(split) : [];
    paired += withPhotos.length;
    textOnly += textOnlyPart.length;
    for (const [file, part] of [[dataset.splitFile(split), withPhotos], [dataset.splitFile(split, true), textOnlyPart]] as const) {
      for (const recipe of part) {
        const seen = origin.get(recipe.id);
        if (seen) throw new UserError(`recipe id ${recipe.id} is in both ${seen} and ${file}; an index needs unique ids`);
        origin.set(recipe.id, file);
        for (const name of recipe.images) {
          const first = imageSplit.get(name);
          if (first === undefined) imageSplit.set(name, split);
          else if (first !== split) sharedImages++;
        }
        recipes.push({ ...recipe, split });
      }
    }
  }
  if (splits.length === 0) throw new UserError(`${datasetRoot}: no split file to index (looked for ${wanted.map((s) => `${s}.pkl`).join(', ')})`);
  if (recipes.length === 0) throw new UserError(`${datasetRoot}: no recipes to index in ${splits.join(', ')}`);
  if (sharedImages > 0) log(`${sharedImages} image name(s) are listed in more than one split; /v1/images serves each from the first split listing it`);
  return { recipes, splits, paired, textOnly };
}

