import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RecipeDataset } from '../src/data/dataset.js';
import { buildServer } from '../src/server/app.js';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
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
