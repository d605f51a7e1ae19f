import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { toTorchvisionNchwBatch } from '../src/data/images/normalise.js';
import { resnet50KeySpecs } from '../src/model/torchvision-resnet-keys.js';
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

test('--backbone-weights: a torchvision ResNet state_dict (zip format, fc included) loads into the trunk, and its legacy-format copy loads the same; wrong widths are refused', async () => {
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const os = await import('node:os');
  const path = await import('node:path');
  const { TorchCheckpointWriter } = await import('../src/import/torch-zip-writer.js');
  const { pyOrderedDict } = await import('../src/data/pickle/python-pickler.js');
  const { initialFineTuneModel } = await import('../src/train/fine-tune/fine-tune-model.js');
  const { loadTorchvisionBackbone } = await import('../src/train/fine-tune/torchvision-weights.js');
  const { presetConfig } = await import('../src/model/config.js');
  const { contiguousStride, torchSave } = await import('./helpers/torch-save.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tv-weights-'));
  try {
    const stem = 2;
    // torchvision's keys (no backbone prefix) for a 2-wide stem, plus its classifier fc.
    const keys = resnet50KeySpecs('', stem).map((k) => ({ ...k, name: k.name.slice(1) }));
    const values = new Map<string, Float32Array | BigInt64Array>();
    keys.forEach((k, i) => {
      const n = k.shape.reduce((a, b) => a * b, 1);
      values.set(k.name, k.dtype === 'int64' ? BigInt64Array.of(BigInt(i)) : Float32Array.from({ length: n }, (_, j) => Math.sin(i * 31 + j) * (k.name.endsWith('running_var') ? 0.5 : 1) + (k.name.endsWith('running_var') ? 1 : 0)));
    });
    const file = path.join(dir, 'resnet50-tiny.pth');
    const w = new TorchCheckpointWriter(file, { folder: 'archive' });
    const items: Array<[string, ReturnType<typeof w.tensorOf>]> = keys.map((k) => [k.name, w.tensorOf(values.get(k.name)!, k.shape)]);
    items.push(['fc.weight', w.tensorOf(new Float32Array(10 * 64), [10, 64])], ['fc.bias', w.tensorOf(new Float32Array(10), [10])]);
    w.finish(pyOrderedDict(items));

    const config = { ...presetConfig('tiny', { vocabSize: 50, labels: 6 }), backboneChannels: 64 };
    const model = initialFineTuneModel(config, stem, false, 1);
    const { loaded, ignored } = loadTorchvisionBackbone(file, model);
    assert.equal(loaded, keys.length);
    assert.deepEqual(ignored, ['fc.weight', 'fc.bias']);
    assert.deepEqual([...model.params.get(`${TRUNK_PREFIX}.layer3.1.conv2.weight`).dataSync()], [...values.get('layer3.1.conv2.weight')!]);
    assert.deepEqual([...model.batchNorm.runningVar.get(`${TRUNK_PREFIX}.layer4.0.downsample.1`)!.dataSync()], [...values.get('layer4.0.downsample.1.running_var')!]);
    assert.equal(model.batchNorm.batchesTracked.get(`${TRUNK_PREFIX}.layer2.0.bn2`), (values.get('layer2.0.bn2.num_batches_tracked') as BigInt64Array)[0]);
    // Heads keep their own initialisation.
    assert.ok(model.params.has('img_fc.weight'));

    const wide = initialFineTuneModel({ ...config, backboneChannels: 128 }, 4, false, 1);
    assert.throws(() => loadTorchvisionBackbone(file, wide), /2-channel stem; the model's trunk has 4/);

    // The same weights in the legacy format, written by Python's pickler as torch < 1.6 did for
    // resnet50-19c8e357.pth: no num_batches_tracked (older than BatchNorm's counter), fc included.
    const legacy = path.join(dir, 'resnet50-19c8e357.pth');
    const legacyKeys = keys.filter((k) => !k.name.endsWith('num_batches_tracked'));
    const blob: Buffer[] = [];
    let at = 0;
    const storages: Record<string, { type: 'FloatStorage'; blob: [number, number] }> = {};
    for (const [name, v] of [...legacyKeys.map((k): [string, Float32Array] => [k.name, values.get(k.name) as Float32Array]), ['fc.weight', new Float32Array(10 * 64)], ['fc.bias', new Float32Array(10)]] as Array<[string, Float32Array]>) {
      storages[name] = { type: 'FloatStorage', blob: [at, v.length] };
      blob.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      at += v.byteLength;
    }
    await writeFile(path.join(dir, 'weights.blob'), Buffer.concat(blob));
    const shapes = new Map<string, number[]>([...keys.map((k): [string, number[]] => [k.name, [...k.shape]]), ['fc.weight', [10, 64]], ['fc.bias', [10]]]);
    torchSave({
      storages, blob: path.join(dir, 'weights.blob'), legacy,
      tensors: Object.keys(storages).map((name) => ({ name, storage: name, offset: 0, shape: shapes.get(name)!, stride: contiguousStride(shapes.get(name)!) })),
    }, path.join(dir, 'spec.json'));
    const fromLegacy = initialFineTuneModel(config, stem, false, 1);
    const viaLegacy = loadTorchvisionBackbone(legacy, fromLegacy);
    assert.equal(viaLegacy.loaded, legacyKeys.length);
    assert.deepEqual(viaLegacy.ignored, ['fc.weight', 'fc.bias']);
    let compared = 0;
    for (const name of model.params.names()) {
      if (!name.startsWith(`${TRUNK_PREFIX}.`)) continue;
      assert.deepEqual([...fromLegacy.params.get(name).dataSync()], [...model.params.get(name).dataSync()], name);
      compared++;
    }
    for (const layer of model.batchNorm.layers) {
      for (const stat of [model.batchNorm.runningMean, model.batchNorm.runningVar]) {
        const other = stat === model.batchNorm.runningMean ? fromLegacy.batchNorm.runningMean : fromLegacy.batchNorm.runningVar;
        assert.deepEqual([...other.get(layer.name)!.dataSync()], [...stat.get(layer.name)!.dataSync()], layer.name);
      }
    }
    assert.equal(compared + 2 * model.batchNorm.layers.length, legacyKeys.length);
    for (const m of [model, wide, fromLegacy]) {
      m.params.dispose();
      m.batchNorm.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
