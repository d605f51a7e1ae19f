import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecipeDataset } from '../src/data/dataset.js';
import type { Recipe } from '../src/data/recipe.js';
import { loadTestCrop } from '../src/data/images/index.js';
import { batchRecipes } from '../src/data/text/batch.js';
import { encodeRecipe } from '../src/data/text/encode.js';
import { loadVocabulary } from '../src/data/text/vocabulary.js';
import type { RankMetrics } from '../src/eval/metrics.js';
import { evaluateRetrieval, type RetrievalEvaluation } from '../src/eval/protocol.js';
import type { ExportManifest } from '../src/model-format/manifest.js';
import { openSession, runImageEncoder, runRecipeEncoder } from '../src/export/onnx-run.js';
import type { EvaluationReport } from '../src/eval/report.js';
import { runCli } from './helpers/cli.js';
import { createServedModel } from './helpers/served-model.js';
import { DEMO_ROOT } from './helpers/server-fixture.js';

let work: string;
let debiasing: string;
let plainOnly: string;

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-eval-onnx-'));
  debiasing = await createServedModel(path.join(work, 'a'), { debias: true, id: 'tiny-debias' });
  plainOnly = await createServedModel(path.join(work, 'b'), { debias: false, seed: 7, id: 'tiny-plain' });
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

interface Reference {
  plain: RetrievalEvaluation;
  debiased: RetrievalEvaluation;
  plainExtra: RetrievalEvaluation;
  debiasedExtra: RetrievalEvaluation;
  pairs: number;
  extra: number;
}

/**
 * The protocol on embeddings computed here with plain onnxruntime sessions, independently of the
 * command's inference pools: one photo and one recipe per session run (no batching, no padding).
 */
async function reference(modelDir: string): Promise<Reference> {
  const dataset = await RecipeDataset.open(DEMO_ROOT);
  const paired = await dataset.readPaired('test');
  const textOnly = await dataset.readTextOnly('test');
  const vocab = await loadVocabulary(path.join(modelDir, 'vocab.pkl'));
  const imageSession = await openSession(path.join(modelDir, 'image_encoder.onnx'), 1);
  const recipeSession = await openSession(path.join(modelDir, 'recipe_encoder.onnx'), 1);
  try {
    const plain: Float32Array[] = [];
    const debiased: Float32Array[] = [];
    for (const r of paired) {
      const out = await runImageEncoder(imageSession, [await loadTestCrop(dataset.firstImagePath('test', r))]);
      plain.push(out.embedding);
      debiased.push(out.debiased);
    }
    const embed = async (recipes: readonly Recipe[]) => {
      const rows: Float32Array[] = [];
      for (const r of recipes) rows.push(await runRecipeEncoder(recipeSession, batchRecipes([encodeRecipe(r, vocab)])));
      return rows;
    };
    const dim = plain[0].length;
    const matrix = (rows: Float32Array[]) => {
      const values = new Float32Array(rows.length * dim);
      rows.forEach((row, i) => values.set(row, i * dim));
      return { values, rows: rows.length, dim };
    };
    const recipes = matrix(await embed(paired));
    const extra = matrix(await embed(textOnly));
    const rank = (images: Float32Array[], extraRecipes?: typeof extra) => evaluateRetrieval(matrix(images), recipes, { n: 'all', runs: 10, seed: 0, extraRecipes });
    return {
      plain: await rank(plain), debiased: await rank(debiased),
      plainExtra: await rank(plain, extra), debiasedExtra: await rank(debiased, extra),
      pairs: paired.length, extra: textOnly.length,
    };
  } finally {
    await imageSession.release();
    await recipeSession.release();
  }
}

function assertSameMetrics(got: RankMetrics, want: RankMetrics, what: string): void {
  for (const m of ['medR', 'r1', 'r5', 'r10'] as const) assert.ok(Math.abs(got[m] - want[m]) < 1e-9, `${what} ${m}: ${got[m]} vs ${want[m]}`);
}

function evaluateCli(modelDir: string): EvaluationReport {
  const res = runCli(['evaluate', '--model', modelDir, DEMO_ROOT, '--n', 'all', '--with-noimages', '--device', 'cpu', '--json']);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /photos 28\/28/); // progress goes to stderr, the report alone to stdout
  return JSON.parse(res.stdout) as EvaluationReport;
}

test('evaluate --model <export>: photos through image_encoder.onnx, same metrics as direct onnxruntime sessions', async () => {
  const manifest = JSON.parse(await fs.readFile(path.join(debiasing, 'manifest.json'), 'utf8')) as ExportManifest;
  assert.equal(manifest.debias.active, true, 'the fixture should debias');
  const report = evaluateCli(debiasing);
  const want = await reference(debiasing);
  assert.equal(report.model.format, 'onnx-export');
  assert.equal(report.model.format === 'onnx-export' && report.model.modelId, 'tiny-debias');
  assert.deepEqual([report.pairs, report.pairsWithoutPhotos, report.n, report.runs], [want.pairs, 0, 28, 1]);
  assertSameMetrics(report.results.plain.imageToRecipe, want.plain.imageToRecipe, 'plain i->r');
  assertSameMetrics(report.results.plain.recipeToImage, want.plain.recipeToImage, 'plain r->i');
  assert.ok(report.results.debiased, 'debiased results when the manifest says debiasing is active');
  assertSameMetrics(report.results.debiased.imageToRecipe, want.debiased.imageToRecipe, 'debiased i->r');
  assertSameMetrics(report.results.debiased.recipeToImage, want.debiased.recipeToImage, 'debiased r->i');
  assert.deepEqual(report.results.chance.imageToRecipe, { medR: 14.5, r1: 100 / 28, r5: 500 / 28, r10: 1000 / 28 });
  assert.ok(report.withNoImages);
  assert.deepEqual([report.withNoImages.extraRecipes, report.withNoImages.gallery], [want.extra, 28 + want.extra]);
  assertSameMetrics(report.withNoImages.plain.imageToRecipe, want.plainExtra.imageToRecipe, 'with text-only, plain');
  assertSameMetrics(report.withNoImages.debiased!.imageToRecipe, want.debiasedExtra.imageToRecipe, 'with text-only, debiased');
  // The two image embeddings differ, so the comparison above tells them apart.
  assert.notDeepEqual(want.plain.imageToRecipe, want.debiased.imageToRecipe);
});

test('evaluate --model <export> without debiasing reports e_I only', async () => {
  const report = evaluateCli(plainOnly);
  const want = await reference(plainOnly);
  assert.equal(report.results.debiased, undefined);
  assert.equal(report.withNoImages?.debiased, undefined);
  assertSameMetrics(report.results.plain.imageToRecipe, want.plain.imageToRecipe, 'plain i->r');
  assertSameMetrics(report.results.plain.recipeToImage, want.plain.recipeToImage, 'plain r->i');
});

test('evaluate refuses --random-init and feature-cache flags on an export, in one line', () => {
  for (const extra of [['--random-init'], ['--cache', work]]) {
    const res = runCli(['evaluate', '--model', debiasing, DEMO_ROOT, '--n', 'all', ...extra]);
    assert.notEqual(res.status, 0);
    assert.equal(res.stdout, '');
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`${extra[0]} .*ONNX export`));
  }
});
