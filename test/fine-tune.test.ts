import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RecipeDataset } from '../src/data/dataset.js';
import { writePickleFile } from '../src/data/pickle/pickle.js';
import { findStateDict } from '../src/import/checkpoint-tensors.js';
import { TorchCheckpoint } from '../src/import/torch-checkpoint.js';
import { buildServer } from '../src/server/app.js';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
import { fromRoot } from '../src/util/paths.js';
import { runCli } from './helpers/cli.js';
import { DEMO_ROOT } from './helpers/server-fixture.js';

// train --fine-tune end to end on the demo photos (cpu backend, tiny preset with a 2-wide ResNet
// stem): the loss falls, and the run exports, evaluates, indexes and serves like any model.
const tmp = await mkdtemp(path.join(os.tmpdir(), 'fine-tune-test-'));
test.after(() => rm(tmp, { recursive: true, force: true }));

test('train --fine-tune on the demo data: loss decreases; export, evaluate and serve the result', async () => {
  const labels = path.join(tmp, 'labels');
  const prep = runCli(['prepare-labels', DEMO_ROOT, '--top-k', '20', '--out', labels]);
  assert.equal(prep.status, 0, prep.stderr);

  const run = path.join(tmp, 'run');
  const trained = runCli(['train', DEMO_ROOT, '--fine-tune', '--preset', 'tiny', '--backend', 'cpu', '--out', run, '--labels-dir', labels,
    '--epochs', '3', '--batch', '4', '--max-pairs', '8', '--lr', '1e-3', '--json'], { timeoutMs: 600_000 });
  assert.equal(trained.status, 0, trained.stderr.slice(-2000));
  assert.match(trained.stderr, /^mode: fine-tune \(ResNet layer2-4 and heads from photos: backend cpu has convolution gradients\)$/m);
  const summary = JSON.parse(trained.stdout) as { epochs: Array<{ loss: number; steps: number; secondsPerImage: number }> };
  assert.equal(summary.epochs.length, 3);
  assert.equal(summary.epochs[0].steps, 2);
  const [first, , last] = summary.epochs;
  assert.ok(last.loss < first.loss, `mean loss ${first.loss} -> ${last.loss} did not decrease`);

  // The frozen-feature mode says which mode it is too (and fails here for lack of a feature cache).
  const frozen = runCli(['train', DEMO_ROOT, '--stage', 'baseline', '--preset', 'tiny', '--backend', 'cpu', '--out', path.join(tmp, 'frozen'),
    '--labels-dir', labels, '--cache', path.join(tmp, 'no-cache')]);
  assert.match(frozen.stderr, /^mode: frozen-feature /m);

  const model = path.join(tmp, 'model');
  const exported = runCli(['export', run, '--out', model]);
  assert.equal(exported.status, 0, exported.stderr);
  const manifest = JSON.parse(await readFile(path.join(model, 'manifest.json'), 'utf8')) as { stage: string; config: { backboneChannels: number } };
  assert.equal(manifest.stage, 'baseline');
  assert.equal(manifest.config.backboneChannels, 64);

  const evaluated = runCli(['evaluate', '--model', model, DEMO_ROOT, '--split', 'test', '--n', 'all', '--device', 'cpu', '--json']);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  assert.match(evaluated.stdout, /medR/);

  const indexDir = path.join(tmp, 'index');
  await buildDatasetIndex({ datasetRoot: DEMO_ROOT, splits: ['test'], modelDir: model, outDir: indexDir, device: 'cpu', workers: 1 });
  const server = await buildServer({ config: { modelDir: model, indexDir, device: 'cpu', imageWorkers: 1, threadsPerWorker: 1 }, logger: false });
  try {
    const base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    const dataset = await RecipeDataset.open(DEMO_ROOT);
    const recipe = (await dataset.readPaired('test'))[0];
    const photo = await readFile(dataset.firstImagePath('test', recipe));
    const res = await fetch(`${base}/v1/search?k=3`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json() as { recipes: Array<{ id: string; rank: number }> };
    assert.equal(body.recipes.length, 3);
    assert.deepEqual(body.recipes.map((r) => r.rank), [1, 2, 3]);
  } finally {
    await server.app.close();
  }
});

test('train --fine-tune --init accepts a stage-2 (debiasing) seed checkpoint: one tiny epoch trains layer2-4 and Wv, leaves the stem', async () => {
  const golden = (name: string): string => fromRoot('test/fixtures/seed-goldens/small', name);
  const init = golden('stage2.pth.tar');
  // The golden model's sizes: a 300-word vocabulary and 20 ingredient classes (prepare-labels --top-k 20).
  const vocab = path.join(tmp, 'golden-vocab.pkl');
  await writePickleFile(vocab, new Map<number, string>([[0, '<pad>'], [1, '<start>'], [2, '<end>'], ...Array.from({ length: 296 }, (_, i): [number, string] => [i + 3, `w${i + 3}`]), [299, '<unk>']]));
  const labels = path.join(tmp, 'labels-stage2');
  assert.equal(runCli(['prepare-labels', DEMO_ROOT, '--top-k', '20', '--out', labels]).status, 0);
  const run = path.join(tmp, 'run-stage2');
  const base = ['train', DEMO_ROOT, '--fine-tune', '--init', init, '--vocab', vocab, '--labels-dir', labels, '--backend', 'cpu', '--out', run,
    '--epochs', '1', '--batch', '4', '--max-pairs', '4'];

  const noDictionary = runCli(base);
  assert.equal(noDictionary.status, 1);
  assert.match(noDictionary.stderr, /stage-2 \(debiasing\) checkpoint: --dictionary <ingredient_dict_textual\.pkl> is required/);

  const trained = runCli([...base, '--dictionary', golden('ingredient_dict_textual.pkl'), '--json'], { timeoutMs: 600_000 });
  assert.equal(trained.status, 0, trained.stderr.slice(-2000));
  const summary = JSON.parse(trained.stdout) as { epochs: Array<{ loss: number; steps: number }> };
  assert.equal(summary.epochs.length, 1);
  assert.equal(summary.epochs[0].steps, 1);
  assert.ok(Number.isFinite(summary.epochs[0].loss) && summary.epochs[0].loss > 0);
  const info = JSON.parse(await readFile(path.join(run, 'fine-tune.json'), 'utf8')) as { stage: string; stemWidth: number };
  assert.equal(info.stage, 'debias');

  const before = TorchCheckpoint.open(init);
  const after = TorchCheckpoint.open(path.join(run, 'checkpoint.pth.tar'));
  try {
    const a = findStateDict(before.root, init).stateDict;
    const b = findStateDict(after.root, after.file).stateDict;
    assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
    const changed = (key: string): number => {
      const [x, y] = [[...before.read(a.get(key)!)], [...after.read(b.get(key)!)]];
      return x.filter((v, i) => !Object.is(v, y[i])).length;
    };
    const body = 'module.backbone.0.body';
    assert.equal(changed(`${body}.conv1.weight`), 0, 'the stem is frozen');
    assert.equal(changed(`${body}.layer1.0.conv1.weight`), 0, 'layer1 is frozen');
    assert.ok(changed(`${body}.layer2.0.conv2.weight`) > 0, 'layer2 trains');
    assert.ok(changed('module.Wv.weight') > 0, 'Wv trains in stage 2');
    // BatchNorm in training mode, frozen layers included: one more batch tracked, running statistics moved.
    assert.equal((after.read(b.get(`${body}.bn1.num_batches_tracked`)!) as BigInt64Array)[0], (before.read(a.get(`${body}.bn1.num_batches_tracked`)!) as BigInt64Array)[0] + 1n);
    assert.ok(changed(`${body}.bn1.running_mean`) > 0);
  } finally {
    before.close();
    after.close();
  }
});
