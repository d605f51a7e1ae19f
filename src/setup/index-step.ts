import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Split } from '../data/recipe.js';
import { MANIFEST_FILE } from '../index/manifest.js';
import { buildDatasetIndex } from '../index/runners/dataset-index.js';
import { UserError } from '../util/errors.js';
import { portablePath } from '../util/portable-path.js';
import { sha256Bytes } from '../util/sha256.js';
import { readDemoDataset } from './demo-dataset.js';
import { inspectIndex } from './index-check.js';
import type { ModelStep } from './model-step.js';
import { removeSetupRecord, SETUP_RECORD_FORMAT, SETUP_RECORD_VERSION, writeSetupRecord } from './setup-record.js';

export interface IndexStep {
  dir: string;
  action: 'verified' | 'built';
  reasons: string[];
  splits: Split[];
  count: number;
  paired: number;
  textOnly: number;
  /** Photos the recipes list that exist in the dataset (the server reads them from there). */
  photos: number;
  seconds: number;
}

export interface IndexStepOptions {
  datasetRoot: string;
  outDir: string;
  model: ModelStep;
  force: boolean;
  log: (line: string) => void;
}

/**
 * Make `outDir` a verified index of every demo recipe (all splits, with and without photos),
 * embedded by the verified model export: nothing when it already is, else a build over the demo
 * dataset itself (as `index <demo> --split all --with-noimages` makes it), whose photos the server
 * then reads from the dataset.
 */
export async function ensureDemoIndex(opts: IndexStepOptions): Promise<IndexStep> {
  const started = performance.now();
  const { outDir, model, log } = opts;
  const dataset = await readDemoDataset(opts.datasetRoot);
  const verdict = await inspectIndex({
    dir: outDir,
    model: { id: model.manifest.modelId, dim: model.manifest.embeddingDim, manifestSha256: model.manifestSha256 },
    checkpointSha256: model.checkpointSha256,
    dataset,
  });
  const report = (action: IndexStep['action'], reasons: string[]): IndexStep => ({
    dir: outDir, action, reasons, splits: dataset.splits, count: dataset.count, paired: dataset.paired, textOnly: dataset.textOnly,
    photos: dataset.photos, seconds: (performance.now() - started) / 1000,
  });

  if (verdict.state === 'ok' && !opts.force) {
    log(`index ${outDir}: verified (${dataset.count} recipes of ${dataset.splits.join(', ')}; files match by sha256; model and dataset unchanged)`);
    return report('verified', []);
  }
  if (verdict.state === 'foreign' && !opts.force) {
    throw new UserError(`${verdict.reasons[0]}; refusing to overwrite it (choose another --index-out, or pass --force)`);
  }
  const reasons = opts.force ? ['--force'] : verdict.state === 'ok' ? [] : verdict.reasons;
  for (const reason of reasons) log(`index: ${verdict.state}: ${reason}`);

  // Without the record the folder reads as unfinished until this build completes.
  await removeSetupRecord(outDir);
  // Setups before index format 2 copied the photos into <index>/images/all; nothing reads them now.
  await fs.rm(path.join(outDir, 'images', 'all'), { recursive: true, force: true });
  await fs.rmdir(path.join(outDir, 'images')).catch(() => {});
  if (dataset.missingPhotos) log(`index ${outDir}: ${dataset.missingPhotos} photos the recipes list are absent from ${dataset.root} (the server answers 404 for them)`);
  const built = await buildDatasetIndex({
    datasetRoot: dataset.root,
    splits: dataset.splits,
    withNoImages: true,
    modelDir: model.dir,
    outDir,
    // CPU: a 407-recipe demo gains nothing from CUDA start-up, and its vectors then do not depend on the machine's GPU.
    device: 'cpu',
    log: (line) => log(`  ${line}`),
  });
  if (built.count !== dataset.count) throw new UserError(`${dataset.root} changed while it was indexed (${dataset.count} -> ${built.count} recipes); run setup again`);

  const manifest = built.manifest;
  await writeSetupRecord(outDir, {
    format: SETUP_RECORD_FORMAT,
    version: SETUP_RECORD_VERSION,
    createdAt: new Date().toISOString(),
    model: { id: model.manifest.modelId, manifestSha256: model.manifestSha256, checkpointSha256: model.checkpointSha256 },
    dataset: { root: portablePath(dataset.root), files: dataset.files },
    index: { manifestSha256: sha256Bytes(await fs.readFile(path.join(outDir, MANIFEST_FILE))), count: manifest.count },
  });
  log(`index ${outDir}: ${manifest.count} recipes, width ${manifest.width}, HNSW built in ${(manifest.buildMs / 1000).toFixed(2)} s`);
  return report('built', reasons);
}
