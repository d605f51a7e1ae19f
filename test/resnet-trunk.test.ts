import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { toTorchvisionNchwBatch } from '../src/data/images/normalise.js';
import { resnet50KeySpecs } from '../src/import/torchvision-resnet-keys.js';
import { conv2dFast } from '../src/model/conv2d.js';
import { isFrozenTrunkParam, trunkBatchNormLayers, trunkForward, trunkParamSpecs, TRUNK_PREFIX } from '../src/model/resnet-trunk.js';
import { loadSeedCheckpointModel } from '../src/train/fine-tune/fine-tune-model.js';
import { fromRoot } from '../src/util/paths.js';

await tf.setBackend('cpu');
const golden = (...p: string[]): string => fromRoot('test/fixtures/seed-goldens/small', ...p);

test('conv2dFast: value and both gradients match tf.conv2d autodiff (kernels 1/3/7, strides 1/2, paddings 0/1/3)', () => {
  const cases: Array<[number, number, number]> = [[1, 1, 0], [1, 2, 0], [3, 1, 1], [3, 2, 1], [7, 2, 3]];
  for (const [k, stride, pad] of cases) {
    const x = tf.randomNormal([2, 11, 9, 3], 0, 1, 'float32', k * 10 + stride);
    const w = tf.randomNormal([k, k, 3, 5], 0, 1, 'float32', k * 10 + stride + 1);
    const out = conv2dFast(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
    const probe = tf.randomNormal(out.shape, 0, 1, 'float32', 7);
    const reference = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad === 0 ? 'valid' : pad);
    const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2dFast(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), probe)))([x, w]);
    const theirs = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(a, b), probe)))([x, w]);
    const pairs: Array<[tf.Tensor, tf.Tensor, string]> = [[out, reference(x, w), 'value'], [ours[0], theirs[0], 'dx'], [ours[1], theirs[1], 'dW']];
    for (const [a, b, what] of pairs) {
      assert.deepEqual(a.shape, b.shape, `${what} k${k} s${stride}`);
      const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
      const scale = tf.max(tf.abs(b)).dataSync()[0];
      assert.ok(diff <= 1e-5 * scale, `${what} k${k} s${stride} p${pad}: max diff ${diff} (scale ${scale})`);
    }
  }
});

test('trunk layout: parameters and BatchNorm layers follow torchvision; stem + layer1 frozen as the seed freezes them', () => {
  const specs = trunkParamSpecs(4);
  const keys = resnet50KeySpecs(TRUNK_PREFIX, 4);
  assert.equal(specs.length, keys.filter((k) => k.dtype === 'float32').length - 2 * trunkBatchNormLayers(4).length);
  assert.equal(specs.filter((s) => isFrozenTrunkParam(s.name)).length, 33);
  assert.equal(trunkBatchNormLayers(4).length, 53);
  assert.equal(trunkBatchNormLayers(4).filter((l) => l.frozen).length, 11);
  assert.equal(isFrozenTrunkParam('backbone.0.body.layer2.0.conv1.weight'), false);
  assert.equal(isFrozenTrunkParam('backbone.0.body.layer1.2.bn3.bias'), true);
  assert.equal(isFrozenTrunkParam('img_fc.weight'), false);
});

test('eval-mode trunk (running statistics) reproduces the seed layer-4 map of both checkpoints', async () => {
  const bytes = await readFile(golden('inputs/images_uint8_hwc.bin'));
  const crops = [0, 1, 2, 3].map((i) => ({ data: new Uint8Array(bytes.buffer, bytes.byteOffset + i * 224 * 224 * 3, 224 * 224 * 3), width: 224, height: 224, channels: 3 as const }));
  const images = tf.transpose(tf.tensor4d(toTorchvisionNchwBatch(crops), [4, 3, 224, 224]), [0, 2, 3, 1]) as tf.Tensor4D;
  for (const stage of ['stage1', 'stage2']) {
    const { model } = loadSeedCheckpointModel(golden(`${stage}.pth.tar`));
    const map = tf.tidy(() => tf.transpose(trunkForward(model.params, model.batchNorm, model.stemWidth, images, { training: false }), [0, 3, 1, 2]));
    const raw = await readFile(golden(`${stage}/intermediate/backbone_out.bin`));
    const expected = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const got = map.dataSync();
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < expected.length; i++) {
      diff = Math.max(diff, Math.abs(got[i] - expected[i]));
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    assert.ok(diff / scale <= 1e-5, `${stage}: max |ours - seed| / max |seed| = ${diff / scale}`);
    // Eval mode leaves the running statistics and counters alone.
    assert.equal(model.batchNorm.batchesTracked.get(`${TRUNK_PREFIX}.bn1`), 2n ** 32n + 7n);
    map.dispose();
    model.params.dispose();
    model.batchNorm.dispose();
  }
});
