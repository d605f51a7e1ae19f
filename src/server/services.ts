import path from 'node:path';
import { RecipeDataset } from '../data/dataset.js';
import { loadRecipeIndex, type LoadedRecipeIndex } from '../index/store.js';
import type { InferencePool } from '../runtime/inference-pool.js';
import { openModelPools } from '../runtime/model-pools.js';
import { DataFileError, UserError } from '../util/errors.js';
import { resolveRecordedPath } from '../util/portable-path.js';
import type { ServerConfig } from './config.js';
import { openExportedModel, type ExportedModel } from '../model-format/exported-model.js';
import { ImageCatalog } from './image-catalog.js';
import { PhotoEncoder } from '../runtime/photo-encoder.js';
import { SearchService } from './search-service.js';

/** What the API needs once loaded: the model, its two pools, the index and the photos it may show. */
export interface Services {
  model: ExportedModel;
  imagePool: InferencePool;
  recipePool: InferencePool;
  index: LoadedRecipeIndex;
  /** recipe id -> index row */
  rowById: Map<string, number>;
  catalog: ImageCatalog;
  photos: PhotoEncoder;
  search: SearchService;
}

export interface LoadHooks {
  log: (line: string) => void;
  warn: (line: string) => void;
  observeStage?: (stage: 'decode' | 'encode' | 'search', ms: number) => void;
}

/**
 * Load the model (verified against its manifest), start the image and recipe pools, and open the
 * index, refusing one built by another model or another export of it.
 */
export async function loadServices(config: ServerConfig, hooks: LoadHooks): Promise<Services> {
  const model = await openExportedModel(config.modelDir, { precision: config.precision });
  if (!model.imageEncoderPath) {
    throw new UserError(`${config.modelDir}: the model has no image_encoder.onnx (exported with --image head); the server needs the photo encoder: export with --image full or both`);
  }
  const index = await loadRecipeIndex(config.indexDir, { expectModelId: model.manifest.modelId, expectDim: model.manifest.embeddingDim, ef: config.ef });
  if (index.manifest.model.manifestSha256 !== model.manifestSha256) {
    throw new DataFileError(path.join(config.indexDir, 'manifest.json'), `was built with another export of model ${model.manifest.modelId} (its manifest sha256 differs); rebuild the index with this model`);
  }

  const { image: imagePool, recipe: recipePool } = await openModelPools(model, {
    device: config.device,
    image: {
      workers: config.imageWorkers,
      threadsPerWorker: config.threadsPerWorker,
      maxBatch: config.maxBatch,
      maxWaitMs: config.maxWaitMs,
      maxQueue: config.maxQueue,
    },
    // Recipes are embedded only by evaluations: one small worker, so it never competes much with photos.
    recipe: { workers: 1, threadsPerWorker: 1, maxBatch: 32, maxWaitMs: config.maxWaitMs, maxQueue: config.maxQueue },
    log: hooks.log,
  });

  const datasetRoot = config.datasetRoot ?? resolveRecordedPath(index.manifest.dataset.root);
  let imageRoot: string | undefined;
  try {
    imageRoot = (await RecipeDataset.open(datasetRoot)).imageRoot;
  } catch {
    hooks.warn(`dataset folder ${datasetRoot} not found: search works, but /v1/images answers 404 (pass --dataset-root)`);
  }
  const catalog = new ImageCatalog(index.recipes, imageRoot);
  const photos = new PhotoEncoder(imagePool, { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels }, undefined, config.decodePixelBudget);
  const search = new SearchService(photos, index, model.labels, model.manifest.debias.active, hooks.observeStage);
  hooks.log(`model ${model.manifest.modelId} (debiasing ${model.manifest.debias.active ? 'on' : 'off'}), index ${path.basename(config.indexDir)}: ${index.index.count} recipes, ${catalog.size} photos; inference on ${imagePool.provider}`);
  return {
    model, imagePool, recipePool, index, catalog, photos, search,
    rowById: new Map(index.recipes.map((r, row) => [r.id, row])),
  };
}

export async function closeServices(services: Services): Promise<void> {
  await Promise.all([services.imagePool.close(), services.recipePool.close()]);
}
