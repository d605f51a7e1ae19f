import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RecipeDataset } from '../src/data/dataset.js';
import { encodeRecipe } from '../src/data/text/encode.js';
import { openFeatureCache } from '../src/features/cache-reader.js';
import { forward } from '../src/model/forward.js';
import { activateBackend } from '../src/cli/backend-setup.js';
import { disposeTokens, recipeTokens } from '../src/train/batch-tensors.js';
import { runDictionaryStage } from '../src/train/dictionary-stage.js';
import { chanceMetrics } from '../src/eval/report.js';
import { evaluateModel } from '../src/eval/runners/evaluate-model.js';
import { loadModelFolder } from '../src/train/model-folder.js';
import { openModelSource } from '../src/eval/runners/model-source.js';
import { readRunInfo } from '../src/train/run-files.js';
import { startRun, type TrainStageOptions } from '../src/train/run-setup.js';
import { trainEpochs } from '../src/train/trainer.js';
import { UserError } from '../src/util/errors.js';
import { runCli } from './helpers/cli.js';
import { makeSyntheticDataset, type SyntheticDataset } from './helpers/synthetic-dataset.js';

let data: SyntheticDataset;
let work: string;
let stage1: string;
let stage2: string;

async function train(opts: Partial<TrainStageOptions> & Pick<TrainStageOptions, 'stage' | 'out'>): Promise<void> {
  const prepared = await startRun({
    root: data.root, preset: 'tiny', buildVocabMinCount: opts.stage === 'baseline' ? 1 : undefined, hyper: { epochs: 2, batchSize: 4 },
    seed: 2, backendName: 'wasm', resume: false, log: () => {}, ...opts,
  });
  try {
    await trainEpochs(prepared, { log: () => {} });
  } finally {
    prepared.dispose();
  }
}

before(async () => {
  data = await makeSyntheticDataset(13);
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-eval-'));
  stage1 = path.join(work, 'stage1');
  stage2 = path.join(work, 'stage2');
  await activateBackend('wasm', () => {});
  await train({ stage: 'baseline', out: stage1 });
  await runDictionaryStage({ run: stage1, root: data.root, log: () => {} });
  await train({ stage: 'debias', out: stage2, init: stage1, hyper: { epochs: 1, batchSize: 4 } });
});

after(async () => {
  await fs.rm(data.root, { recursive: true, force: true });
  await fs.rm(work, { recursive: true, force: true });
});

test('chance level: R@K = K/G, medR = (G+1)/2', () => {
  assert.deepEqual(chanceMetrics(28), { medR: 14.5, r1: 100 / 28, r5: 500 / 28, r10: 1000 / 28 });
  assert.deepEqual(chanceMetrics(4), { medR: 2.5, r1: 25, r5: 100, r10: 100 });
});

test('evaluate --json: plain and debiased, both directions, chance, and the text-only gallery', () => {
  const run = runCli(['evaluate', '--model', stage2, data.root, '--split', 'test', '--n', 'all', '--with-noimages', '--backend', 'wasm', '--json']);
  assert.equal(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout);
  assert.equal(r.split, 'test');
  assert.equal(r.pairs, 6);
  assert.equal(r.n, 6);
  assert.equal(r.model.stage, 'debias');
  for (const kind of ['plain', 'debiased']) {
    for (const dir of ['imageToRecipe', 'recipeToImage']) {
      const m = r.results[kind][dir];
      assert.deepEqual(Object.keys(m).sort(), ['medR', 'r1', 'r10', 'r5', 'std'], `${kind} ${dir}`);
      assert.ok(m.r1 <= m.r5 && m.r5 <= m.r10 && m.r10 === 100, 'with 6 candidates every match is in the top 10');
      assert.ok(m.medR >= 1 && m.medR <= 6);
    }
  }
  assert.deepEqual(r.results.chance.imageToRecipe, chanceMetrics(6));
  assert.equal(r.withNoImages.extraRecipes, 3);
  assert.equal(r.withNoImages.gallery, 9);
  assert.deepEqual(r.withNoImages.chance.imageToRecipe, chanceMetrics(9));
  for (const kind of ['plain', 'debiased']) {
    // Distractors can only push true matches down.
    assert.ok(r.withNoImages[kind].imageToRecipe.medR >= r.results[kind].imageToRecipe.medR);
    assert.ok(r.withNoImages[kind].imageToRecipe.r1 <= r.results[kind].imageToRecipe.r1);
  }
});

test('evaluate agrees with a brute-force ranking of embeddings computed directly by the model', async () => {
  const source = await openModelSource(stage2);
  const report = await evaluateModel(source, { root: data.root, split: 'test', n: 'all', runs: 1, seed: 0, withNoImages: false, log: () => {} });
  source.dispose();

  const model = await loadModelFolder(stage2);
  const dataset = await RecipeDataset.open(data.root);
  const pairs = await dataset.readPaired('test');
  const cache = await openFeatureCache(path.join(data.root, '.cache', 'features'), 'test', 0);
  const features = pairs.map((p) => cache.getForRecipe(p.id)!);
  cache.close();
  const tokens = recipeTokens(pairs.map((p) => encodeRecipe(p, model.vocab)));
  const [images, debiased, recipes] = tf.tidy(() => {
    const input = tf.tensor4d(Float32Array.from(features.flatMap((f) => [...f])), [pairs.length, 7, 7, 2048]);
    const out = forward(model.params, model.config, { imageFeatures: input, recipe: tokens }, { training: false, dictionary: model.dictionary });
    return [out.image!.embedding.arraySync(), out.image!.debiased!.embedding.arraySync(), out.recipe!.embedding.arraySync()];
  });
  disposeTokens(tokens);
  model.dispose();

  const cosine = (a: number[], b: number[]) => {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    return ab / Math.sqrt(aa * bb);
  };
  const ranks = (queries: number[][], gallery: number[][]) => queries.map((q, i) => {
    const own = cosine(q, gallery[i]);
    return 1 + gallery.filter((g, j) => j !== i && cosine(q, g) > own).length;
  });
  const metrics = (rs: number[]) => {
    const sorted = [...rs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const medR = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    const at = (k: number) => (100 * rs.filter((x) => x <= k).length) / rs.length;
    return { medR, r1: at(1), r5: at(5), r10: at(10) };
  };
  const strip = ({ medR, r1, r5, r10 }: { medR: number; r1: number; r5: number; r10: number }) => ({ medR, r1, r5, r10 });
  assert.deepEqual(strip(report.results.plain.imageToRecipe), metrics(ranks(images, recipes)));
  assert.deepEqual(strip(report.results.plain.recipeToImage), metrics(ranks(recipes, images)));
  assert.deepEqual(strip(report.results.debiased!.imageToRecipe), metrics(ranks(debiased, recipes)));
  assert.deepEqual(strip(report.results.debiased!.recipeToImage), metrics(ranks(recipes, debiased)));
});

test('evaluating the val split reproduces the validation metrics of the best epoch', async () => {
  const info = await readRunInfo(stage1);
  const source = await openModelSource(stage1);
  const report = await evaluateModel(source, { root: data.root, split: 'val', runs: 10, seed: 0, withNoImages: false, log: () => {} });
  source.dispose();
  assert.equal(report.n, 6, 'fewer than 1000 pairs: all of them');
  const strip = ({ medR, r1, r5, r10 }: { medR: number; r1: number; r5: number; r10: number }) => ({ medR, r1, r5, r10 });
  assert.deepEqual(strip(report.results.plain.imageToRecipe), info.best!.val.imageToRecipe);
  assert.deepEqual(strip(report.results.plain.recipeToImage), info.best!.val.recipeToImage);
  assert.equal(report.results.debiased, undefined, 'a stage-1 model has no Wv: its dictionary alone does not debias');
});

test('--random-init evaluates an untrained model of the same sizes; subsets with --n N average --runs rankings', async () => {
  const trained = await openModelSource(stage1);
  const random = await openModelSource(stage1, { randomInitSeed: 9 });
  const opts = { root: data.root, split: 'test' as const, n: 4, runs: 5, seed: 1, withNoImages: false, log: () => {} };
  const a = await evaluateModel(trained, opts);
  const b = await evaluateModel(random, opts);
  trained.dispose();
  random.dispose();
  assert.equal(a.runs, 5);
  assert.equal(a.n, 4);
  assert.equal(b.model.randomInit, true);
  assert.notDeepEqual(a.results.plain.imageToRecipe, b.results.plain.imageToRecipe);
  assert.deepEqual(a.results.chance.imageToRecipe, chanceMetrics(4));
});

test('evaluate errors: missing features name the features command; N larger than the split; no model', async () => {
  const source = await openModelSource(stage1);
  try {
    await assert.rejects(
      evaluateModel(source, { root: data.root, split: 'test', runs: 1, seed: 0, withNoImages: false, cacheDir: path.join(work, 'none'), log: () => {} }),
      (err: Error) => err instanceof UserError && /no feature cache for split test view 0 \(run: recipe-retrieval features <root> --split test\)/.test(err.message),
    );
    await assert.rejects(
      evaluateModel(source, { root: data.root, split: 'test', n: 7, runs: 1, seed: 0, withNoImages: false, log: () => {} }),
      /--n 7 is larger than the 6 test pairs/,
    );
  } finally {
    source.dispose();
  }
  await assert.rejects(openModelSource(work), /no model checkpoint/);
  const run = runCli(['evaluate', '--model', stage1, data.root, '--split', 'nope']);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^recipe-retrieval evaluate: --split must be one of train, val, test, got "nope"\n$/);
});
