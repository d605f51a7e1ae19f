import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RecipeDataset } from '../src/data/dataset.js';
import type { ExportManifest } from '../src/model-format/manifest.js';
import { evaluationSummary } from '../src/model-format/model-evaluation.js';
import { writePickleFile } from '../src/data/pickle/pickle.js';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
import { runSetup, type SetupSummary } from '../src/setup/run-setup.js';
import { loadCheckpoint, readCheckpointManifest, saveCheckpoint } from '../src/model-format/checkpoint.js';
import { fromRoot } from '../src/util/paths.js';
import { runCli } from './helpers/cli.js';
import { readyUrl } from './helpers/server-ready.js';
import { trainingOnlyPackages, withoutPackages } from './helpers/serve-packages.js';

/**
 * `recipe-retrieval setup` for real on the committed demo (export with the ResNet-50 conversion,
 * index of all 407 recipes) into a temp folder, then what a second run, damage and changed sources
 * make it do, and the container entrypoint serving the result over HTTP.
 */

const DEMO = fromRoot('index-data', 'demo');
let dir: string;
let modelOut: string;
let indexOut: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-setup-'));
  modelOut = path.join(dir, 'model');
  indexOut = path.join(dir, 'index');
});
after(() => fs.rm(dir, { recursive: true, force: true }));

function setupCli(extra: string[] = []): { summary: SetupSummary; stderr: string } {
  // A first setup takes ~15 s alone, minutes on a loaded 2-core machine: the default 2-minute limit is too tight there.
  const res = runCli(['setup', '--model-out', modelOut, '--index-out', indexOut, '--json', ...extra], { timeoutMs: 600_000 });
  assert.equal(res.status, 0, res.stderr);
  return { summary: JSON.parse(res.stdout) as SetupSummary, stderr: res.stderr };
}

/** Every file below `root`: relative path -> sha256 and mtime. */
async function snapshot(root: string): Promise<Map<string, { sha256: string; mtimeMs: number }>> {
  const out = new Map<string, { sha256: string; mtimeMs: number }>();
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const bytes = await fs.readFile(file);
    out.set(path.relative(root, file), { sha256: createHash('sha256').update(bytes).digest('hex'), mtimeMs: (await fs.stat(file)).mtimeMs });
  }
  return out;
}

async function snapshotBoth(): Promise<Map<string, { sha256: string; mtimeMs: number }>> {
  const both = new Map<string, { sha256: string; mtimeMs: number }>();
  for (const [prefix, root] of [['model', modelOut], ['index', indexOut]]) {
    for (const [name, entry] of await snapshot(root)) both.set(`${prefix}/${name}`, entry);
  }
  return both;
}

test('setup from scratch exports the demo model and indexes all 407 demo recipes with their photos', async () => {
  const { summary, stderr } = setupCli();
  assert.equal(summary.model.action, 'built');
  assert.equal(summary.model.modelId, 'demo');
  assert.equal(summary.index.action, 'built');
  assert.deepEqual([summary.index.count, summary.index.paired, summary.index.textOnly, summary.index.photos], [407, 138, 269, 160]);
  // A first setup says what it does, not what was missing before; TF.js keeps its banner to itself.
  assert.match(stderr, /setup \[ +\d+\.\d s\] model .*: exporting demo-run to ONNX \(/);
  assert.match(stderr, /export: wrote image_encoder\.onnx/);
  assert.match(stderr, /indexing 407 recipes/);
  assert.doesNotMatch(stderr, /missing|not found|no index built yet|looks like you are running TensorFlow\.js/);
  assert.equal(summary.model.reasons.length + summary.index.reasons.length, 0);

  const model = JSON.parse(await fs.readFile(path.join(modelOut, 'manifest.json'), 'utf8')) as ExportManifest;
  assert.deepEqual(Object.keys(model.files).sort(), ['image_encoder.onnx', 'image_head.onnx', 'labels.json', 'recipe_encoder.onnx', 'vocab.pkl']);
  assert.equal(model.source.run, 'models/demo-run');
  // The demo run's measured quality (its evaluation.json, stage 2 with ẽ_I) travels in the manifest.
  const recorded = (JSON.parse(await fs.readFile(fromRoot('models', 'demo-run', 'evaluation.json'), 'utf8')) as { stage2: { results: { debiased: { imageToRecipe: { r10: number } }; chance: { imageToRecipe: { r10: number } } } } }).stage2;
  assert.equal(model.evaluation?.source, 'models/demo-run/evaluation.json (stage2)');
  assert.deepEqual([model.evaluation?.split, model.evaluation?.pairs, model.evaluation?.n, model.evaluation?.embedding], ['test', 28, 28, 'debiased']);
  assert.equal(model.evaluation?.imageToRecipe.r10, recorded.results.debiased.imageToRecipe.r10);
  assert.equal(model.evaluation?.chance.r10, recorded.results.chance.imageToRecipe.r10);
  assert.equal(evaluationSummary(model.evaluation!), 'right recipe in the top 10 for 50% of 28 unseen photos; chance 36%');
  const index = JSON.parse(await fs.readFile(path.join(indexOut, 'manifest.json'), 'utf8')) as { count: number; dataset: { root: string; splits: string[] } };
  assert.equal(index.count, 407);
  // The index reads its photos from the demo dataset itself, recorded relative to the project.
  assert.deepEqual(index.dataset, { root: 'index-data/demo', splits: ['train', 'val', 'test'] });
  assert.deepEqual(summary.index.splits, ['train', 'val', 'test']);
  const recipes = JSON.parse(await fs.readFile(path.join(indexOut, 'recipes.json'), 'utf8')) as { id: string; split: string }[];
  const dataset = await RecipeDataset.open(DEMO);
  const expected = [];
  for (const split of ['train', 'val', 'test'] as const) {
    expected.push(...[...(await dataset.readPaired(split)), ...(await dataset.readTextOnly(split))].map((r) => `${split}:${r.id}`));
  }
  assert.deepEqual(recipes.map((r) => `${r.split}:${r.id}`), expected);
  assert.deepEqual((await fs.readdir(indexOut)).sort(), ['embeddings.f32', 'hnsw.bin', 'manifest.json', 'recipes.json', 'setup.json'], 'no photos copied, no leftovers');
});

test('a second setup verifies everything by sha256 and writes nothing', async () => {
  const before = await snapshotBoth();
  const res = runCli(['setup', '--model-out', modelOut, '--index-out', indexOut], { timeoutMs: 600_000 });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /^nothing to do: .* verified by sha256 in \d+\.\d s$/m);
  assert.match(res.stderr, /model .*: verified/);
  assert.match(res.stderr, /index .*: verified/);
  assert.deepEqual(await snapshotBoth(), before);
});

test('a flipped byte in recipe_encoder.onnx: only that file is rebuilt, the manifests and the index stay', async () => {
  const before = await snapshotBoth();
  const file = path.join(modelOut, 'recipe_encoder.onnx');
  const bytes = await fs.readFile(file);
  bytes[bytes.length >> 1] ^= 0xff;
  await fs.writeFile(file, bytes);

  const { summary, stderr } = setupCli();
  assert.equal(summary.model.action, 'repaired');
  assert.deepEqual(summary.model.files, ['recipe_encoder.onnx']);
  assert.match(summary.model.reasons[0], /recipe_encoder\.onnx: sha256 .* differs from the manifest/);
  assert.equal(summary.index.action, 'verified');
  assert.match(stderr, /rebuilding recipe_encoder\.onnx only/);

  const after = await snapshotBoth();
  assert.equal(after.get('model/recipe_encoder.onnx')!.sha256, before.get('model/recipe_encoder.onnx')!.sha256, 'the same bytes as the original export');
  for (const [name, entry] of before) {
    if (name !== 'model/recipe_encoder.onnx') assert.deepEqual(after.get(name), entry, `${name} untouched`);
  }
  assert.equal(after.size, before.size, 'no staging files left behind');
  assert.deepEqual((await fs.readdir(dir)).sort(), ['index', 'model']);
});

test('an index left by an earlier setup (format 1, photos copied into it) is rebuilt, and the copies removed', async () => {
  const saved = path.join(dir, 'current-index');
  await fs.cp(indexOut, saved, { recursive: true });
  // What a setup before index format 2 left: its record version, and the photo copies under images/all.
  const record = JSON.parse(await fs.readFile(path.join(indexOut, 'setup.json'), 'utf8')) as Record<string, unknown>;
  await fs.writeFile(path.join(indexOut, 'setup.json'), JSON.stringify({ ...record, version: 1, photos: {} }));
  const copy = path.join(indexOut, 'images', 'all', '3', '2', '4', '3', '32430264e2.jpg');
  await fs.mkdir(path.dirname(copy), { recursive: true });
  await fs.copyFile(path.join(DEMO, 'images', 'test', '3', '2', '4', '3', '32430264e2.jpg'), copy);

  const { summary } = setupCli();
  assert.deepEqual([summary.model.action, summary.index.action], ['verified', 'built']);
  assert.match(summary.index.reasons.join(), /setup\.json: written by an earlier setup \(version 1/);
  await assert.rejects(fs.stat(path.join(indexOut, 'images')), /ENOENT/);
  // Rebuilt from the same sources: the same recipes and vectors (to float rounding: micro-batches pad differently).
  assert.deepEqual(await fs.readFile(path.join(indexOut, 'recipes.json')), await fs.readFile(path.join(saved, 'recipes.json')));
  const vectors = async (root: string) => new Float32Array((await fs.readFile(path.join(root, 'embeddings.f32'))).buffer.slice(0));
  const [now, before] = [await vectors(indexOut), await vectors(saved)];
  assert.equal(now.length, before.length);
  assert.ok(now.every((v, i) => Math.abs(v - before[i]) < 1e-5), 'same embeddings');
  await fs.rm(saved, { recursive: true });
});

test('the container entrypoint serves what setup made without TF.js: /readyz, search by photo, photos of every split', async () => {
  // As in the serve images: the packages docker/runtime-deps.sh removes cannot be imported.
  const child = spawn('sh', [fromRoot('docker', 'entrypoint.sh')], {
    cwd: os.tmpdir(),
    env: withoutPackages(trainingOnlyPackages(), { ...process.env, MODEL_DIR: modelOut, INDEX_DIR: indexOut, PORT: '0', HOST: '127.0.0.1', DEVICE: 'cpu', LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  try {
    const url = await readyUrl(child.stdout!, exited, (code) => `entrypoint exited with ${code} before the server was ready: ${stderr}`);
    assert.deepEqual(await (await fetch(`${url}/readyz`)).json(), { status: 'ready' });
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { index: { count: number; photos: number; dataset: { root: string; splits: string[] } } };
    assert.deepEqual([info.index.count, info.index.photos, info.index.dataset], [407, 160, { root: 'index-data/demo', splits: ['train', 'val', 'test'] }]);

    const dataset = await RecipeDataset.open(DEMO);
    const search = async (split: 'train' | 'test', recipeId: string) => {
      const recipe = (await dataset.readPaired(split)).find((r) => r.id === recipeId)!;
      const res = await fetch(`${url}/v1/search?k=10`, { method: 'POST', body: await fs.readFile(dataset.firstImagePath(split, recipe)), headers: { 'content-type': 'image/jpeg' } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { recipes: { id: string; score: number; images: string[] }[] };
      assert.equal(body.recipes.length, 10);
      body.recipes.slice(1).forEach((r, i) => assert.ok(r.score <= body.recipes[i].score, 'ranked by score'));
      return body.recipes;
    };
    // Measured: the demo model ranks every one of its 89 training photos' recipes first among all 407.
    const train = (await dataset.readPaired('train'))[0];
    assert.equal((await search('train', train.id))[0].id, train.id);
    // An unseen test photo (7e20068997.jpg): its recipe ranks 2nd of 407 (measured); most test photos rank far lower.
    const ranked = await search('test', '4a36001f6a');
    const rank = ranked.findIndex((r) => r.id === '4a36001f6a') + 1;
    assert.ok(rank >= 1 && rank <= 5, `test recipe ranked ${rank}`);

    // Photos of every split come from that split's image tree in the demo dataset.
    for (const split of ['train', 'val', 'test'] as const) {
      const recipe = (await dataset.readPaired(split))[1];
      const photo = await fetch(`${url}/v1/images/${recipe.images[0]}`);
      assert.equal(photo.status, 200, `${split} photo`);
      assert.equal(photo.headers.get('content-type'), 'image/jpeg');
      assert.deepEqual(Buffer.from(await photo.arrayBuffer()), await fs.readFile(dataset.firstImagePath(split, recipe)));
    }

    child.kill('SIGTERM');
    assert.equal(await exited, 0, `graceful stop as PID of the entrypoint (exec); log: ${stdout.slice(-3000)}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('npm start is one process: it verifies, serves with the measured quality in /v1/info, prints no error or warning, and SIGTERM to npm stops the server', async () => {
  const npm = spawn('npm', ['start', '--silent', '--', '--model-out', modelOut, '--index-out', indexOut, '--port', '0', '--device', 'auto'], {
    cwd: fromRoot(),
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  npm.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  npm.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  const exited = once(npm, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null }));
  // npm's children write to the same pipe: it closes only once npm and the server have both exited.
  const outputClosed = once(npm.stdout!, 'end');
  try {
    const url = await readyUrl(npm.stdout!, exited.then(({ code }) => code), (code) => `npm start exited with ${code} before the server was ready: ${stderr}`);
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { model: { evaluation?: { summary: string } }; provider: { image: string } };
    assert.equal(info.model.evaluation?.summary, 'right recipe in the top 10 for 50% of 28 unseen photos; chance 36%');
    assert.equal(info.provider.image, 'cpu');
    // Setup's lines say what happened ("setup done", never "ready" before the server is); nothing reads as an error.
    assert.match(stderr, /^nothing to do: .* verified by sha256 in \d+\.\d s$/m);
    assert.doesNotMatch(stderr, /ready/);
    const logLevels = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { level: number }).level);
    assert.ok(logLevels.every((level) => level <= 30), `only info lines: ${stdout.slice(-2000)}`);
    const text = `${stderr}\n${stdout}`;
    assert.doesNotMatch(text, /\[E:onnxruntime|Failed to load library|looks like you are running TensorFlow\.js|npm (warn|error|ERR)|\berror\b/i);

    // SIGTERM to npm (not to the node process it started) must stop the server.
    npm.kill('SIGTERM');
    await exited;
    const closed = await Promise.race([outputClosed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
    assert.ok(closed, `the server outlived npm by 30 s; log: ${stdout.slice(-2000)}`);
    assert.equal(await fetch(`${url}/healthz`).then(() => 'answered', () => 'refused'), 'refused');
    assert.match(stdout, /"msg":"server stopped, inference workers closed"/, 'the server shut down gracefully');
  } finally {
    if (npm.exitCode === null) npm.kill('SIGKILL');
  }
});

test('setup refuses to overwrite an index it did not make, but finishes its own interrupted one', async () => {
  const foreign = path.join(dir, 'foreign-index');
  await buildDatasetIndex({ datasetRoot: DEMO, splits: ['test'], modelDir: modelOut, outDir: foreign, device: 'cpu', workers: 1 });
  const manifest = await fs.readFile(path.join(foreign, 'manifest.json'));
  await assert.rejects(runSetup({ modelOut, indexOut: foreign }), /holds an index of index-data\/demo \(split test\) that setup did not make; refusing to overwrite it/);
  assert.deepEqual(await fs.readFile(path.join(foreign, 'manifest.json')), manifest);
  await fs.rm(foreign, { recursive: true });

  // Setup's own index without its record (a setup stopped between its last two writes) is rebuilt.
  await fs.rm(path.join(indexOut, 'setup.json'));
  const resumed = await runSetup({ modelOut, indexOut });
  assert.equal(resumed.index.action, 'built');
  assert.match(resumed.index.reasons.join(), /setup\.json absent \(an interrupted setup\)/);
});

test('a changed demo dataset makes the index stale: it is rebuilt, the model is kept', async () => {
  // A copy of the dataset with one text-only recipe retitled (the photos are shared through a link).
  const data = path.join(dir, 'dataset');
  await fs.mkdir(data);
  for (const name of await fs.readdir(DEMO)) if (name.endsWith('.pkl')) await fs.copyFile(path.join(DEMO, name), path.join(data, name));
  await fs.symlink(path.join(DEMO, 'images'), path.join(data, 'images'));
  const textOnly = await (await RecipeDataset.open(data)).readTextOnly('test');
  textOnly[0].title = 'retitled for the staleness test';
  await writePickleFile(path.join(data, 'test_noimages.pkl'), new Map(textOnly.map((r) => [r.id, new Map<string, unknown>([
    ['title', r.title], ['ingredients', r.ingredients], ['instructions', r.instructions], ['images', r.images],
  ])])));

  const summary = await runSetup({ modelOut, indexOut, datasetRoot: data });
  assert.equal(summary.model.action, 'verified');
  assert.equal(summary.index.action, 'built');
  assert.deepEqual(summary.index.reasons, [`the index was built over index-data/demo, not ${data}`, 'the demo dataset changed (test_noimages.pkl)']);
  const manifest = JSON.parse(await fs.readFile(path.join(indexOut, 'manifest.json'), 'utf8')) as { dataset: { root: string } };
  assert.equal(manifest.dataset.root, data, 'photos are now read from the copy');
  const recipes = JSON.parse(await fs.readFile(path.join(indexOut, 'recipes.json'), 'utf8')) as { id: string; title: string }[];
  assert.equal(recipes.find((r) => r.id === textOnly[0].id)!.title, 'retitled for the staleness test');
  assert.equal(recipes.length, 407);
});

test('a changed demo run makes the export stale: the model is exported again, then the index rebuilt on it', async () => {
  // A copy of the demo run (setup's own outputs come from models/demo-run; a copy is another source).
  const run = path.join(dir, 'demo-run');
  await fs.cp(fromRoot('models', 'demo-run'), run, { recursive: true });
  const outs = { runDir: run, modelOut: path.join(dir, 'model2'), indexOut: path.join(dir, 'index2') };
  await assert.rejects(runSetup({ ...outs, modelOut }), /exported from models\/demo-run, not from the demo run .*refusing to overwrite it/);
  const first = await runSetup(outs);
  assert.deepEqual([first.model.action, first.index.action], ['built', 'built']);

  // "Retrained": one weight of the run's best checkpoint moves (saved as training saves it).
  const best = path.join(run, 'best');
  const { manifest, groups } = await loadCheckpoint(best);
  const params = groups.get('params')!;
  const [name, tensor] = [...params][0];
  params.set(name, tf.add(tensor, 0.01));
  await saveCheckpoint(best, { params }, manifest.meta);
  for (const t of params.values()) t.dispose();
  tensor.dispose();

  const second = await runSetup(outs);
  assert.equal(second.model.action, 'built');
  assert.match(second.model.reasons.join(), /the demo run's weights changed \(checkpoint [0-9a-f]{12}\.\.\. -> [0-9a-f]{12}\.\.\.\)/);
  assert.equal(second.index.action, 'built');
  assert.match(second.index.reasons.join(), /the model was exported again/);
  const exported = JSON.parse(await fs.readFile(path.join(outs.modelOut, 'manifest.json'), 'utf8')) as { source: { checkpointSha256: string } };
  assert.equal(exported.source.checkpointSha256, (await readCheckpointManifest(best)).weights.sha256);
});
