import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecipeDataset } from '../../src/data/dataset.js';
import type { Recipe } from '../../src/data/recipe.js';
import type { ModelEvaluation } from '../../src/model-format/model-evaluation.js';
import { buildDatasetIndex } from '../../src/index/runners/dataset-index.js';
import { fromRoot } from '../../src/util/paths.js';
import { runCli } from './cli.js';
import { createServedModel } from './served-model.js';

export interface ServerFixture {
  dir: string;
  modelDir: string;
  /** Index of index-data/demo's test split (28 recipes with photos). */
  indexDir: string;
  /** The test split's recipes, in index row order. */
  recipes: Recipe[];
  /** recipes[i]'s first photo. */
  photos: string[];
  cleanup: () => Promise<void>;
}

export const DEMO_ROOT = fromRoot('index-data', 'demo');

/**
 * A served tiny model and an index of the demo test split built with it: by the `index` command
 * in a child process (`viaCli`), or by the same function in-process (faster).
 */
export async function createServerFixture(prefix: string, opts: { viaCli?: boolean; evaluation?: ModelEvaluation } = {}): Promise<ServerFixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  const modelDir = await createServedModel(dir, { evaluation: opts.evaluation });
  const indexDir = path.join(dir, 'index');
  if (opts.viaCli) {
    const res = runCli(['index', DEMO_ROOT, '--split', 'test', '--model', modelDir, '--out', indexDir, '--device', 'cpu']);
    if (res.status !== 0) throw new Error(`index command failed (${res.status}): ${res.stderr}`);
  } else {
    await buildDatasetIndex({ datasetRoot: DEMO_ROOT, splits: ['test'], modelDir, outDir: indexDir, device: 'cpu', workers: 1 });
  }
  const dataset = await RecipeDataset.open(DEMO_ROOT);
  const recipes = await dataset.readPaired('test');
  return {
    dir, modelDir, indexDir, recipes,
    photos: recipes.map((r) => dataset.firstImagePath('test', r)),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
}
