import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildRecipeIndex } from '../index/build.js';
import { sha256Hex } from '../index/file-hash.js';
import { MANIFEST_FILE } from '../index/manifest.js';
import { saveRecipeIndex } from '../index/store.js';
import { InferencePool } from '../runtime/inference-pool.js';
import { DEFAULT_EF_SEARCH, portablePath } from '../server/dataset-index.js';
import { openExportedModel } from '../server/exported-model.js';
import { embedRecipes, RECIPE_PADDING } from '../server/recipe-tensors.js';
import { UserError } from '../util/errors.js';
import { copyPhotos, readGallery, type Gallery } from './gallery.js';
import { inspectIndex } from './index-check.js';
import type { ModelStep, StepAction } from './model-step.js';
import { GALLERY_SPLIT } from './paths.js';
import { removeSetupRecord, writeSetupRecord, type SetupRecord } from './setup-record.js';

export interface IndexStep {
  dir: string;
  action: StepAction;
  reasons: string[];
  count: number;
  paired: number;
  textOnly: number;
  photos: number;
  /** Gallery photos (re)copied. */
  copiedPhotos: number;
  seconds: number;
}

export interface IndexStepOptions {
  datasetRoot: string;
  outDir: string;
  model: ModelStep;
  force: boolean;
  log: (line: string) => void;
}

/** Recipes embedded per step (a progress line each). */
const CHUNK = 64;

/**
 * Make `outDir` a verified index of every demo recipe (all splits, with and without photos), embedded
 * by the verified model export, with the recipes' photos beside it: nothing when it already is;
 * only the photos when only they are missing or damaged; else a full build.
 */
export async function ensureDemoIndex(opts: IndexStepOptions): Promise<IndexStep> {
  const started = performance.now();
  const { outDir, model, log } = opts;
  const gallery = await readGallery(opts.datasetRoot);
  const verdict = await inspectIndex({
    dir: outDir,
    model: { id: model.manifest.modelId, dim: model.manifest.embeddingDim, manifestSha256: model.manifestSha256 },
    checkpointSha256: model.checkpointSha256,
    gallery,
  });
  const report = (action: StepAction, reasons: string[], copiedPhotos: number): IndexStep => ({
    dir: outDir, action, reasons, count: gallery.recipes.length, paired: gallery.paired, textOnly: gallery.textOnly,
    photos: gallery.photos.size, copiedPhotos, seconds: (performance.now() - started) / 1000,
  });

  if (verdict.state === 'ok' && !opts.force) {
    log(`index ${outDir}: verified (${gallery.recipes.length} recipes, ${gallery.photos.size} photos; files match by sha256; model and dataset unchanged)`);
    return report('verified', [], 0);
  }
  if (verdict.state === 'foreign' && !opts.force) {
    throw new UserError(`${verdict.reasons[0]}; refusing to overwrite it (choose another --index-out, or pass --force)`);
  }
  if (verdict.state === 'photos' && !opts.force) {
    for (const reason of verdict.reasons) log(`index: ${reason}`);
    const copied = await copyPhotos(gallery, outDir, verdict.names);
    await writeSetupRecord(outDir, { ...verdict.record, photos: photoRecords(gallery) });
    log(`index ${outDir}: copied ${copied} photo(s); the index itself is intact`);
    return report('repaired', verdict.reasons, copied);
  }

  const reasons = opts.force ? ['--force'] : verdict.state === 'ok' ? [] : verdict.reasons;
  for (const reason of reasons) log(`index: ${verdict.state}: ${reason}`);
  const copied = await buildIndex(gallery, opts);
  return report('built', reasons, copied);
}

function photoRecords(gallery: Gallery): SetupRecord['photos'] {
  return Object.fromEntries([...gallery.photos].map(([name, p]) => [name, { sha256: p.sha256, bytes: p.bytes, split: p.split }]));
}

/** Embed every gallery recipe with the export's recipe encoder, build and save the HNSW index, then the record. */
async function buildIndex(gallery: Gallery, opts: IndexStepOptions): Promise<number> {
  const { outDir, log } = opts;
  // Without the record the folder reads as unfinished until this build completes.
  await removeSetupRecord(outDir);
  await fs.rm(path.join(outDir, 'images', GALLERY_SPLIT), { recursive: true, force: true });
  const copied = await copyPhotos(gallery, outDir, gallery.photos.keys());
  log(`index ${outDir}: copied ${copied} photos${gallery.missingPhotos.length ? ` (${gallery.missingPhotos.length} listed photos are absent from the dataset)` : ''}`);

  const model = await openExportedModel(opts.model.dir);
  const { recipes } = gallery;
  log(`index ${outDir}: embedding ${recipes.length} recipes (${gallery.paired} with photos, ${gallery.textOnly} text-only, all splits)`);
  // CPU: a 407-recipe demo gains nothing from CUDA start-up, and the build stays the same on every machine.
  const pool = await InferencePool.create({ modelPath: model.recipeEncoderPath, device: 'cpu', maxBatch: 32, padding: RECIPE_PADDING, log: (line) => log(`  ${line}`) });
  let embeddings: Float32Array;
  try {
    const parts: Float32Array[] = [];
    for (let start = 0; start < recipes.length; start += CHUNK) {
      parts.push(await embedRecipes(pool, recipes.slice(start, start + CHUNK), model.vocab));
      log(`  embedded ${Math.min(start + CHUNK, recipes.length)}/${recipes.length}`);
    }
    embeddings = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      embeddings.set(p, offset);
      offset += p.length;
    }
  } finally {
    await pool.close();
  }

  const index = await buildRecipeIndex({
    embeddings, dim: embeddings.length / recipes.length, ids: recipes.map((r) => r.id), efSearch: DEFAULT_EF_SEARCH,
  });
  const manifest = await saveRecipeIndex(outDir, index, {
    model: { id: model.manifest.modelId, manifestSha256: model.manifestSha256 },
    // The photos were copied into this folder, so the folder is the dataset root the server reads them from.
    dataset: { root: portablePath(outDir), split: GALLERY_SPLIT },
    recipes,
  });
  const manifestBytes = await fs.readFile(path.join(outDir, MANIFEST_FILE));
  await writeSetupRecord(outDir, {
    format: 'recipe-retrieval-demo-setup',
    version: 1,
    createdAt: new Date().toISOString(),
    model: { id: model.manifest.modelId, manifestSha256: model.manifestSha256, checkpointSha256: opts.model.checkpointSha256 },
    dataset: { root: portablePath(opts.datasetRoot), files: gallery.files },
    index: { manifestSha256: sha256Hex(manifestBytes), count: manifest.count },
    photos: photoRecords(gallery),
  });
  log(`index ${outDir}: ${manifest.count} recipes, width ${manifest.width}, HNSW built in ${(manifest.buildMs / 1000).toFixed(2)} s`);
  return copied;
}
