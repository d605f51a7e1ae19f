import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../src/backbone/resnet50.js';
import { exportBackboneCommand } from '../src/cli/commands/export-backbone.js';
import { loadTestCrop, toCaffeNhwcBatch, type RgbImage } from '../src/data/images/index.js';
import {
  BACKBONE_INPUT,
  BACKBONE_OUTPUT,
  buildResNet50Model,
  HEAD_OUTPUT,
  loadKerasResNet50,
  RESNET_FEATURE_SHAPE,
} from '../src/onnx/keras-resnet.js';
import { selectBackend } from '../src/tf/backend.js';
import { fromRoot } from '../src/util/paths.js';
import { SeededRandom } from '../src/util/random.js';

const ESPRESSO = 967;
const PHOTOS = [
  fromRoot('test', 'fixtures', 'images', 'coffee.png'),
  fromRoot('index-data', 'demo', 'images', 'test', '3', '2', '4', '3', '32430264e2.jpg'),
  fromRoot('index-data', 'demo', 'images', 'test', 'b', '8', '3', 'c', 'b83c60327e.jpg'),
];
/**
 * Both sides compute in float32 with different summation orders (and ONNX folds batch norm into the
 * conv weights), so bit equality is impossible; 1e-5 of the map's range is ~100x float32 epsilon.
 */
const FEATURE_TOLERANCE = 1e-5;

function randomImage(seed: number): RgbImage {
  const rng = new SeededRandom(seed);
  const data = new Uint8Array(224 * 224 * 3).map(() => rng.nextInt(256));
  return { data, width: 224, height: 224, channels: 3 };
}

function stack(images: RgbImage[]): Uint8Array {
  const out = new Uint8Array(images.length * 224 * 224 * 3);
  images.forEach((im, i) => out.set(im.data, i * im.data.length));
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('converted Keras ResNet-50 matches TF.js on real and random images, and its head says espresso', async (t) => {
  const crops = [...(await Promise.all(PHOTOS.map((p) => loadTestCrop(p)))), randomImage(7)];
  const n = crops.length;

  const keras = await loadKerasResNet50();
  const session = await ort.InferenceSession.create(buildResNet50Model(keras, { withHead: true }), { executionProviders: ['cpu'] });
  assert.deepEqual(session.inputNames, [BACKBONE_INPUT]);
  assert.deepEqual(session.outputNames, [BACKBONE_OUTPUT, HEAD_OUTPUT]);
  const result = await session.run({ [BACKBONE_INPUT]: new ort.Tensor('uint8', stack(crops), [n, 224, 224, 3]) });
  const onnxMaps = result[BACKBONE_OUTPUT];
  const onnxProbs = result[HEAD_OUTPUT];
  assert.deepEqual(onnxMaps.dims, [n, ...RESNET_FEATURE_SHAPE]);
  assert.deepEqual(onnxProbs.dims, [n, 1000]);

  await selectBackend('wasm');
  const reference = await loadBackbone();
  const x = tf.tensor4d(toCaffeNhwcBatch(crops), [n, 224, 224, 3]);
  const tfMaps = reference.featureMaps(x);
  const tfProbs = reference.classify(x);
  const [refMaps, refProbs] = [await tfMaps.data(), await tfProbs.data()];
  tf.dispose([x, tfMaps, tfProbs]);

  const size = RESNET_FEATURE_SHAPE.reduce((a, b) => a * b, 1);
  const onnxData = onnxMaps.data as Float32Array;
  for (let i = 0; i < n; i++) {
    const ref = refMaps.subarray(i * size, (i + 1) * size);
    const got = onnxData.subarray(i * size, (i + 1) * size);
    const relative = maxAbsDiff(got, ref) / maxAbs(ref);
    t.diagnostic(`feature map ${i < PHOTOS.length ? path.basename(PHOTOS[i]) : 'random'}: max|onnx-tfjs|/max|tfjs| = ${relative.toExponential(2)} (max|tfjs| ${maxAbs(ref).toFixed(2)})`);
    assert.ok(maxAbs(ref) > 1, 'the reference map is not degenerate');
    assert.ok(relative <= FEATURE_TOLERANCE, `image ${i}: relative difference ${relative}`);
  }
  const probDiff = maxAbsDiff(onnxProbs.data as Float32Array, refProbs);
  t.diagnostic(`probabilities: max|onnx-tfjs| = ${probDiff.toExponential(2)}`);
  assert.ok(probDiff < 1e-5, `probabilities differ by ${probDiff}`);

  const coffee = Array.from((onnxProbs.data as Float32Array).subarray(0, 1000));
  const top = coffee.indexOf(Math.max(...coffee));
  t.diagnostic(`coffee.png -> class ${top} at ${coffee[top].toFixed(4)}`);
  assert.equal(top, ESPRESSO);
  assert.ok(coffee[top] > 0.98, `espresso probability ${coffee[top]}`);
});

test('export-backbone writes backbone.onnx: ~94 MB, feature_map only, dynamic batch gives the same map per image', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'onnx-resnet-'));
  try {
    const file = path.join(dir, 'backbone.onnx');
    const logged: string[] = [];
    const result = await exportBackboneCommand.run({ values: {}, positionals: [file] }, { json: true, log: (l) => logged.push(l) });
    assert.match(result.text, /^wrote .*backbone\.onnx \(9\d\.\d MB\) in /);
    assert.equal((result.data as { withHead: boolean }).withHead, false);
    const bytes = (await stat(file)).size;
    assert.ok(bytes > 90e6 && bytes < 110e6, `backbone.onnx is ${bytes} bytes`);
    const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
    assert.deepEqual(session.outputNames, [BACKBONE_OUTPUT]);
    const one = randomImage(1);
    const single = await session.run({ [BACKBONE_INPUT]: new ort.Tensor('uint8', one.data, [1, 224, 224, 3]) });
    const pair = await session.run({ [BACKBONE_INPUT]: new ort.Tensor('uint8', stack([randomImage(2), one]), [2, 224, 224, 3]) });
    const size = RESNET_FEATURE_SHAPE.reduce((a, b) => a * b, 1);
    const a = single[BACKBONE_OUTPUT].data as Float32Array;
    const b = (pair[BACKBONE_OUTPUT].data as Float32Array).subarray(size, 2 * size);
    // The same image in a batch of 1 and at position 1 of a batch of 2 gives the same map.
    assert.ok(maxAbsDiff(a, b) <= 1e-5 * maxAbs(a), `batch dependence ${maxAbsDiff(a, b)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
