import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RecipeDataset } from '../src/data/dataset.js';
import { id2PosFile, readId2Pos } from '../src/data/label-files.js';
import { encodeRecipe } from '../src/data/text/encode.js';
import { forward } from '../src/model/forward.js';
import { activateBackend } from '../src/cli/backend-setup.js';
import { recipeTokens, disposeTokens } from '../src/train/batch-tensors.js';
import { loadCheckpoint } from '../src/model-format/checkpoint.js';
import { runDictionaryStage } from '../src/train/dictionary-stage.js';
import type { DictionaryMeta } from '../src/train/dictionary-files.js';
import { loadModelFolder } from '../src/train/model-folder.js';
import { runPaths } from '../src/train/run-files.js';
import { startRun } from '../src/train/run-setup.js';
import { trainEpochs } from '../src/train/trainer.js';
import { makeSyntheticDataset, type SyntheticDataset } from './helpers/synthetic-dataset.js';

let data: SyntheticDataset;
let run: string;

before(async () => {
  data = await makeSyntheticDataset(11);
  run = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'rr-dict-')), 'stage1');
  await activateBackend('wasm', () => {});
  const prepared = await startRun({
    stage: 'baseline', root: data.root, out: run, preset: 'tiny', buildVocabMinCount: 1, hyper: { epochs: 1, batchSize: 4 },
    seed: 5, backendName: 'wasm', resume: false, log: () => {},
  });
  try {
    await trainEpochs(prepared, { log: () => {} });
  } finally {
    prepared.dispose();
  }
});

after(async () => {
  await fs.rm(data.root, { recursive: true, force: true });
  await fs.rm(path.dirname(run), { recursive: true, force: true });
});

test('D[c] is the mean of the eval-mode ingredient line vectors of every training line labelled c', async () => {
  const summary = await runDictionaryStage({ run, root: data.root, batchSize: 3, log: () => {} });
  assert.equal(summary.recipes, 14, 'paired (10) and text-only (4) training recipes');
  assert.equal(summary.recipesWithoutPositions, 0, 'id2pos covers both');
  assert.equal(summary.labels, 8);

  // Independently: each recipe alone through the full forward pass, its line vectors read from
  // outputs.recipe.lines (row l = line l), summed per label in float64.
  const model = await loadModelFolder(run);
  const positions = await readId2Pos(id2PosFile(data.root), 8);
  const dataset = await RecipeDataset.open(data.root);
  const recipes = [...(await dataset.readPaired('train')), ...(await dataset.readTextOnly('train'))];
  const width = model.config.recipe.width;
  const sums = new Float64Array(8 * width);
  const counts = new Array<number>(8).fill(0);
  let beyond = 0;
  for (const recipe of recipes) {
    const tokens = recipeTokens([encodeRecipe(recipe, model.vocab)]);
    const lines = tf.tidy(() => forward(model.params, model.config, { recipe: tokens }, { training: false }).recipe!.lines.ingredients.dataSync());
    disposeTokens(tokens);
    for (const [line, label] of positions.get(recipe.id)!) {
      if (line >= 20) {
        beyond++;
        continue;
      }
      counts[label]++;
      for (let j = 0; j < width; j++) sums[label * width + j] += lines[line * width + j];
    }
  }
  model.dispose();
  assert.ok(beyond > 0, 'the 22-line recipe has labelled lines past the limit');
  assert.equal(summary.linesBeyondLimit, beyond);

  const saved = await loadCheckpoint<DictionaryMeta>(runPaths(run).dictionary);
  const d = saved.groups.get('dictionary')!.get('D')!;
  assert.deepEqual(d.shape, [8, width]);
  const values = d.dataSync();
  d.dispose();
  assert.deepEqual(saved.manifest.meta.counts, counts);
  let maxDiff = 0;
  for (let c = 0; c < 8; c++) {
    for (let j = 0; j < width; j++) {
      const expected = counts[c] ? sums[c * width + j] / counts[c] : 0;
      maxDiff = Math.max(maxDiff, Math.abs(values[c * width + j] - expected));
    }
  }
  assert.ok(maxDiff < 1e-5, `max |D - mean| = ${maxDiff}`);
  assert.ok(values.some((v) => Math.abs(v) > 0.1), 'D is not all zeros');
  assert.deepEqual(saved.manifest.meta.emptyLabels, counts.flatMap((n, c) => (n === 0 ? [c] : [])));
});

test('the dictionary refuses label files that differ from the model\'s labels', async () => {
  const otherLabels = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-labels-'));
  try {
    const { prepareLabels } = await import('../src/data/labels/prepare-labels.js');
    await prepareLabels(data.root, { topK: 5, outDir: otherLabels });
    await assert.rejects(
      runDictionaryStage({ run, root: data.root, labelsDir: otherLabels, log: () => {} }),
      /ingredient labels differ from the model's \(5 vs 8 labels/,
    );
  } finally {
    await fs.rm(otherLabels, { recursive: true, force: true });
  }
});
