import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecipeDataset } from '../src/data/dataset.js';
import { batchRecipes } from '../src/data/text/batch.js';
import { encodeRecipe } from '../src/data/text/encode.js';
import { loadVocabulary } from '../src/data/text/vocabulary.js';
import { openSession, runRecipeEncoder } from '../src/export/onnx-run.js';
import { loadRecipeIndex } from '../src/index/store.js';
import { PARTIAL_FILE, PROGRESS_FILE } from '../src/index/resumable-embed.js';
import { buildServer } from '../src/server/app.js';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
import { runCli } from './helpers/cli.js';
import { createServedModel } from './helpers/served-model.js';
import { DEMO_ROOT } from './helpers/server-fixture.js';

let dir: string;
let modelDir: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-index-cmd-'));
  modelDir = await createServedModel(dir);
});
after(() => fs.rm(dir, { recursive: true, force: true }));

const sha256 = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex');

function normalised(v: Float32Array): Float32Array {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / norm);
}

test('index CLI: the demo test split, embedded as the recipe encoder embeds each recipe alone', async () => {
  const out = path.join(dir, 'ix-test');
  const res = runCli(['index', DEMO_ROOT, '--split', 'test', '--model', modelDir, '--out', out, '--device', 'cpu', '--batch-size', '10', '--json']);
  assert.equal(res.status, 0, res.stderr);
  const summary = JSON.parse(res.stdout);
  assert.deepEqual([summary.count, summary.paired, summary.textOnly, summary.dim], [28, 28, 0, 24]);
  assert.match(res.stderr, /embedding recipes: 28\/28 \(100%/);
  assert.match(res.stderr, /inference pool: \d+ worker\(s\) on cpu/);

  const manifest = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.model.id, 'tiny-served');
  assert.equal(manifest.model.manifestSha256, await sha256(path.join(modelDir, 'manifest.json')));
  assert.deepEqual(manifest.dataset, { root: 'index-data/demo', splits: ['test'] });
  assert.equal(manifest.hnsw.efSearch, 400);
  assert.equal(manifest.space, 'cosine');
  // Finished: no resumable leftovers.
  await assert.rejects(fs.stat(path.join(out, PROGRESS_FILE)), /ENOENT/);
  await assert.rejects(fs.stat(path.join(out, PARTIAL_FILE)), /ENOENT/);

  const dataset = await RecipeDataset.open(DEMO_ROOT);
  const recipes = await dataset.readPaired('test');
  const display = JSON.parse(await fs.readFile(path.join(out, 'recipes.json'), 'utf8'));
  assert.deepEqual(display.map((r: { id: string }) => r.id), recipes.map((r) => r.id));
  assert.deepEqual(display[3], { id: recipes[3].id, title: recipes[3].title, ingredients: recipes[3].ingredients, instructions: recipes[3].instructions, images: recipes[3].images, split: 'test' });

  // Every stored vector is the recipe encoder's output for that recipe run alone, L2-normalised.
  const loaded = await loadRecipeIndex(out, { expectModelId: 'tiny-served', expectDim: 24 });
  const vocab = await loadVocabulary(path.join(modelDir, 'vocab.pkl'));
  const session = await openSession(path.join(modelDir, 'recipe_encoder.onnx'), 1);
  let worst = 0;
  for (const [row, recipe] of recipes.entries()) {
    const alone = normalised(await runRecipeEncoder(session, batchRecipes([encodeRecipe(recipe, vocab)])));
    const stored = loaded.index.vectors.subarray(row * 24, (row + 1) * 24);
    for (let j = 0; j < 24; j++) worst = Math.max(worst, Math.abs(alone[j] - stored[j]));
    // Its own embedding finds it first, with cosine 1.
    const [hit] = loaded.index.search(alone, { k: 1 });
    assert.equal(hit.id, recipe.id);
    assert.ok(Math.abs(hit.score - 1) < 1e-5, `score ${hit.score}`);
  }
  await session.release();
  assert.ok(worst < 1e-5, `largest difference from a lone run: ${worst}`);
});

test('index CLI --with-noimages adds the split\'s text-only recipes after the paired ones', async () => {
  const out = path.join(dir, 'ix-all');
  const res = runCli(['index', DEMO_ROOT, '--model', modelDir, '--out', out, '--with-noimages', '--device', 'cpu', '--json']);
  assert.equal(res.status, 0, res.stderr);
  const summary = JSON.parse(res.stdout);
  assert.deepEqual([summary.count, summary.paired, summary.textOnly], [85, 28, 57]);
  const display = JSON.parse(await fs.readFile(path.join(out, 'recipes.json'), 'utf8')) as { images: string[] }[];
  assert.ok(display.slice(0, 28).every((r) => r.images.length > 0));
  assert.ok(display.slice(28).every((r) => r.images.length === 0));
});

test('an interrupted index build resumes at its last committed chunk and ends identical to an unbroken one', async () => {
  const unbroken = path.join(dir, 'ix-unbroken');
  await buildDatasetIndex({ datasetRoot: DEMO_ROOT, splits: ['test'], modelDir, outDir: unbroken, device: 'cpu', batchSize: 8, workers: 1 });

  const out = path.join(dir, 'ix-resumed');
  const stop = new AbortController();
  await assert.rejects(
    buildDatasetIndex({
      datasetRoot: DEMO_ROOT, splits: ['test'], modelDir, outDir: out, device: 'cpu', batchSize: 8, workers: 1, signal: stop.signal,
      onProgress: (done) => { if (done >= 16) stop.abort(); },
    }),
    /indexing interrupted; run the command again to resume/,
  );
  const progress = JSON.parse(await fs.readFile(path.join(out, PROGRESS_FILE), 'utf8'));
  assert.equal(progress.rows, 16);
  await assert.rejects(loadRecipeIndex(out), /manifest\.json: missing/);

  const lines: string[] = [];
  const summary = await buildDatasetIndex({ datasetRoot: DEMO_ROOT, splits: ['test'], modelDir, outDir: out, device: 'cpu', batchSize: 8, workers: 1, log: (l) => lines.push(l) });
  assert.equal(summary.resumedFrom, 16);
  assert.ok(lines.some((l) => /resuming embedding at row 16 of 28/.test(l)), lines.join('\n'));
  assert.equal(await sha256(path.join(out, 'embeddings.f32')), await sha256(path.join(unbroken, 'embeddings.f32')));
  assert.equal(await sha256(path.join(out, 'recipes.json')), await sha256(path.join(unbroken, 'recipes.json')));
});

test('index CLI refuses missing flags, a folder that is not an exported model, and an absent split', async () => {
  const noModel = runCli(['index', DEMO_ROOT, '--out', path.join(dir, 'x')]);
  assert.equal(noModel.status, 1);
  assert.match(noModel.stderr, /--model is required/);
  const notModel = runCli(['index', DEMO_ROOT, '--model', DEMO_ROOT, '--out', path.join(dir, 'x')]);
  assert.equal(notModel.status, 1);
  assert.match(notModel.stderr, /manifest\.json: not found \(not an exported model folder/);
  const badSplit = runCli(['index', DEMO_ROOT, '--model', modelDir, '--out', path.join(dir, 'x'), '--split', 'dev']);
  assert.equal(badSplit.status, 1);
  assert.match(badSplit.stderr, /--split must be one of train, val, test, a comma list of them, or all; got "dev"/);
  const twice = runCli(['index', DEMO_ROOT, '--model', modelDir, '--out', path.join(dir, 'x'), '--split', 'test,train,test']);
  assert.equal(twice.status, 1);
  assert.match(twice.stderr, /--split names a split twice/);
  const emptyRoot = path.join(dir, 'empty-dataset');
  await fs.mkdir(emptyRoot);
  const noSplit = runCli(['index', emptyRoot, '--model', modelDir, '--out', path.join(dir, 'x')]);
  assert.equal(noSplit.status, 1);
  assert.match(noSplit.stderr, /empty-dataset: no split file to index \(looked for test\.pkl\)/);
  const noneOfAll = runCli(['index', emptyRoot, '--model', modelDir, '--out', path.join(dir, 'x'), '--split', 'all']);
  assert.equal(noneOfAll.status, 1);
  assert.match(noneOfAll.stderr, /no split file to index \(looked for train\.pkl, val\.pkl, test\.pkl\)/);
});

test('index CLI --split all over a dataset without val: train and test are indexed, each recipe with its split, and the server shows photos of both', async () => {
  // The demo dataset without val.pkl (its photos stay reachable through the linked image tree).
  const data = path.join(dir, 'no-val');
  await fs.mkdir(data);
  for (const name of ['train.pkl', 'test.pkl', 'test_noimages.pkl']) await fs.copyFile(path.join(DEMO_ROOT, name), path.join(data, name));
  await fs.symlink(path.join(DEMO_ROOT, 'images'), path.join(data, 'images'));
  const out = path.join(dir, 'ix-multi');
  const res = runCli(['index', data, '--split', 'all', '--with-noimages', '--model', modelDir, '--out', out, '--device', 'cpu', '--json']);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /no-val\/val\.pkl not found: split val skipped/);
  const summary = JSON.parse(res.stdout);
  assert.deepEqual([summary.splits, summary.count, summary.paired, summary.textOnly], [['train', 'test'], 89 + 28 + 57, 89 + 28, 57]);
  const manifest = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.dataset, { root: data, splits: ['train', 'test'] });

  const dataset = await RecipeDataset.open(DEMO_ROOT);
  const [train, test, val] = [await dataset.readPaired('train'), await dataset.readPaired('test'), await dataset.readPaired('val')];
  const display = JSON.parse(await fs.readFile(path.join(out, 'recipes.json'), 'utf8')) as { id: string; split: string }[];
  assert.deepEqual(display.map((r) => `${r.split}:${r.id}`), [
    ...train.map((r) => `train:${r.id}`), ...test.map((r) => `test:${r.id}`),
    ...(await dataset.readTextOnly('test')).map((r) => `test:${r.id}`),
  ]);

  const server = await buildServer({ config: { modelDir, indexDir: out, device: 'cpu', imageWorkers: 1, threadsPerWorker: 1 }, logger: false });
  try {
    const base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    const info = (await (await fetch(`${base}/v1/info`)).json()) as { index: { count: number; photos: number; dataset: { root: string; splits: string[] } } };
    assert.deepEqual(info.index.dataset, { root: data, splits: ['train', 'test'] });
    assert.equal(info.index.photos, new Set([...train, ...test].flatMap((r) => r.images)).size);
    // A photo of each split, byte for byte from that split's image tree.
    for (const [split, recipe] of [['train', train[5]], ['test', test[3]]] as const) {
      const photo = await fetch(`${base}/v1/images/${recipe.images[0]}`);
      assert.equal(photo.status, 200, `${split} photo ${recipe.images[0]}`);
      assert.deepEqual(Buffer.from(await photo.arrayBuffer()), await fs.readFile(dataset.firstImagePath(split, recipe)));
      const view = (await (await fetch(`${base}/v1/recipes/${recipe.id}`)).json()) as { split: string };
      assert.equal(view.split, split);
    }
    // A val photo exists in the linked tree, but no indexed recipe lists it; nor does a made-up name.
    await fs.access(dataset.firstImagePath('val', val[0]));
    for (const name of [val[0].images[0], 'ffffffffff.jpg']) {
      const refused = await fetch(`${base}/v1/images/${name}`);
      assert.equal(refused.status, 404, name);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'image_not_found');
    }
    const search = await fetch(`${base}/v1/search?k=100`, { method: 'POST', body: await fs.readFile(dataset.firstImagePath('train', train[0])), headers: { 'content-type': 'image/jpeg' } });
    const ranked = ((await search.json()) as { recipes: { split: string }[] }).recipes;
    assert.deepEqual(new Set(ranked.map((r) => r.split)), new Set(['train', 'test']));
  } finally {
    await server.app.close();
  }
});
