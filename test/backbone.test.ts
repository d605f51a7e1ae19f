import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { defaultResnetDir, FEATURE_MAP_SHAPE, loadBackbone } from '../src/backbone/resnet50.js';
import { loadTestCrop, toCaffeNhwc } from '../src/data/images/index.js';
import { selectBackend } from '../src/tf/backend.js';
import { fromRoot } from '../src/util/paths.js';
import { python } from './helpers/python.js';

const COFFEE = fromRoot('test', 'fixtures', 'images', 'coffee.png');
const ESPRESSO = 967;

async function coffeeBatch(): Promise<tf.Tensor4D> {
  const crop = await loadTestCrop(COFFEE);
  return tf.tensor4d(toCaffeNhwc(crop), [1, crop.height, crop.width, 3]);
}

test('ImageNet sanity: coffee.png through the test transform is "espresso" at ~0.99', async () => {
  await selectBackend('wasm');
  const backbone = await loadBackbone();
  const x = await coffeeBatch();
  const probs = backbone.classify(x);
  const p = await probs.data();
  tf.dispose([x, probs]);
  assert.equal(p.length, 1000);
  let top = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[top]) top = i;
  const labels = JSON.parse(readFileSync(path.join(defaultResnetDir(), '..', 'assets', 'labels.json'), 'utf8')) as Record<string, string>;
  assert.equal(top, ESPRESSO);
  assert.equal(labels[String(top)], 'espresso');
  assert.ok(p[top] > 0.98 && p[top] <= 1, `espresso probability ${p[top]}`);
});

test('featureMaps is the map the ImageNet head pools: softmax(mean(F) W + b) reproduces classify', async () => {
  await selectBackend('wasm');
  const backbone = await loadBackbone();
  const x = await coffeeBatch();
  const before = tf.memory().numTensors;
  const maps = backbone.featureMaps(x);
  assert.deepEqual(maps.shape, [1, ...FEATURE_MAP_SHAPE]);
  const f = await maps.data();
  assert.ok(f.every((v) => v >= 0 && Number.isFinite(v)), 'post-ReLU map is finite and non-negative');
  const [kernel, bias] = backbone.fullModel.getLayer('fc1000').getWeights();
  const fromMaps = tf.tidy(() => tf.softmax(tf.add(tf.matMul(tf.mean(maps, [1, 2]) as tf.Tensor2D, kernel as tf.Tensor2D), bias)));
  const direct = backbone.classify(x);
  const a = await fromMaps.data();
  const b = await direct.data();
  tf.dispose([x, maps, fromMaps, direct]);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  assert.ok(maxDiff < 1e-5, `max probability difference ${maxDiff}`);
  assert.equal(tf.memory().numTensors, before - 1, 'no tensor leaks (x was created before)');
});

test('loadBackbone is memoised and backboneHash is sha256 of model.json then the shards in manifest order', async () => {
  const a = await loadBackbone();
  const b = await loadBackbone();
  assert.equal(a, b);
  const expected = python(
    `import hashlib,json,os,sys\nd=sys.argv[1]\nh=hashlib.sha256(open(os.path.join(d,'model.json'),'rb').read())\n` +
      `for g in json.load(open(os.path.join(d,'model.json')))['weightsManifest']:\n  for p in g['paths']: h.update(open(os.path.join(d,p),'rb').read())\nprint(h.hexdigest())`,
    [a.modelDir],
  ).trim();
  assert.equal(a.backboneHash, expected);
});

test('a wrongly shaped input is refused with a message naming the expected shape', async () => {
  const backbone = await loadBackbone();
  const x = tf.zeros([1, 256, 256, 3]) as tf.Tensor4D;
  assert.throws(() => backbone.featureMaps(x), /\[N,224,224,3\], got \[1,256,256,3\]/);
  x.dispose();
});

test('a model folder without model.json is a DataFileError naming the file', async () => {
  await assert.rejects(loadBackbone({ modelDir: fromRoot('test', 'fixtures', 'images') }), /model\.json: file not found/);
});
