import { availableParallelism } from 'node:os';
import { RecipeDataset } from '../../data/dataset.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS } from '../../data/images/index.js';
import { embeddingMatrix } from '../embeddings.js';
import { openExportedModel, type Precision } from '../../model-format/exported-model.js';
import { openModelPools } from '../../runtime/model-pools.js';
import { PhotoEncoder } from '../../runtime/photo-encoder.js';
import type { Device } from '../../runtime/session-factory.js';
import { embedSplit } from '../../runtime/split-embeddings.js';
import { UserError } from '../../util/errors.js';
import { rankSplit, type EvaluationReport } from '../report.js';
import { readTextOnlyForGallery, type EvaluateOptions } from './evaluate-model.js';

export interface EvaluateExportOptions extends Omit<EvaluateOptions, 'cacheDir'> {
  device: Device;
  /** Image encoder precision (default fp32; int8 needs `quantize` first). */
  precision?: Precision;
}

/**
 * Evaluate an exported model folder (models/<id>/) by the same protocol as a run: the split's
 * first photos through image_encoder.onnx and its recipes through recipe_encoder.onnx (the
 * server's evaluation path, src/runtime/split-embeddings.ts), then the shared ranking. Photos go
 * in rather than cached features because the export carries its own backbone (Keras or
 * torchvision) and preprocessing, which the feature cache may not match.
 */
export async function evaluateExport(dir: string, opts: EvaluateExportOptions): Promise<EvaluationReport> {
  const started = performance.now();
  const model = await openExportedModel(dir, { precision: opts.precision });
  if (!model.imageEncoderPath) {
    throw new UserError(`${dir}: the export has no image_encoder.onnx (exported with --image head), so it cannot embed photos; export with --image full or both`);
  }
  const dataset = await RecipeDataset.open(opts.root);
  // Checked before minutes of photo encoding, as the run path does.
  if (opts.withNoImages) await readTextOnlyForGallery(dataset, opts.split);
  const workers = Math.max(1, Math.min(8, availableParallelism()));
  const pools = await openModelPools(model, { device: opts.device, image: { workers, maxBatch: 8 }, recipe: { workers: 1, maxBatch: 32 }, log: opts.log });
  const { image: imagePool, recipe: recipePool } = pools;
  try {
    const limits = { maxBytes: DEFAULT_MAX_BYTES, maxPixels: DEFAULT_MAX_PIXELS };
    opts.log(`${model.manifest.modelId}: embedding ${opts.split} photos and recipes with the ONNX graphs on ${imagePool.provider}`);
    let reported = -1;
    const split = await embedSplit(dataset, opts.split, { photos: new PhotoEncoder(imagePool, limits), recipePool, vocab: model.vocab, limits }, {
      withNoImages: opts.withNoImages,
      // Twice the workers keeps every worker busy while the next photos decode.
      photoConcurrency: 2 * workers,
      progress: (phase, done, total) => {
        // About every 10 %: enough to see it move on stderr without flooding a log.
        const step = total ? Math.floor((10 * done) / total) : 10;
        if (phase === 'images' && step > reported) {
          reported = step;
          opts.log(`  photos ${done}/${total}`);
        }
      },
    });
    if (split.skipped) {
      opts.log(`warning: ${split.skipped} ${opts.split} pair(s) have an unreadable first photo and are left out (${split.skippedExamples[0]})`);
    }
    const rows = split.kept.length;
    const matrix = (values: Float32Array) => embeddingMatrix(values, split.dim);
    const ranked = await rankSplit({
      images: {
        plain: matrix(split.imagePlain),
        // The graph always outputs ẽ_I; it equals e_I when the manifest says debiasing is off.
        debiased: model.manifest.debias.active ? matrix(split.imageDebiased) : undefined,
      },
      recipes: matrix(split.recipes),
      extra: split.extra ? matrix(split.extra.values) : undefined,
    }, opts);
    return {
      model: {
        dir, format: 'onnx-export', modelId: model.manifest.modelId, stage: model.manifest.stage, epoch: model.manifest.source.epoch,
        sourceRun: model.manifest.source.runName, provider: imagePool.provider, precision: model.precision, randomInit: false,
      },
      split: opts.split,
      pairs: rows,
      pairsWithoutPhotos: split.skipped,
      ...(split.skipped ? { skippedExamples: split.skippedExamples } : {}),
      seed: opts.seed,
      ...ranked,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await pools.close();
  }
}
