import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { RecipeDataset } from '../src/data/dataset.js';
import { openExportedModel } from '../src/model-format/exported-model.js';
import { UserError } from '../src/util/errors.js';
import { sha256File } from '../src/util/sha256.js';
import { loadTestCrop } from '../src/data/images/index.js';
import { modelManifestSha256 } from '../src/model-format/manifest.js';
import { quantizeModel } from '../src/quantize/quantize-model.js';
import { runCli } from './helpers/cli.js';
import { createServedModel } from './helpers/served-model.js';
import { makeSyntheticDataset } from './helpers/synthetic-dataset.js';
import { conv2d } from '../src/onnx/conv-blocks.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { attr } from '../src/onnx/attributes.js';
import { DataType, onnx } from '../src/onnx/proto.js';
import { tensor32 } from '../src/onnx/weights.js';
import { calibrateRanges } from '../src/quantize/calibrate.js';
import { activationQuant, insertQdq, quantizationTargets, quantizeWeightsPerChannel } from '../src/quantize/qdq-graph.js';
import { SeededRandom } from '../src/util/random.js';

test('per-channel int8 weights: scale = max |w| / 127 per output channel, values rounded and clamped', () => {
  // Two output channels of 3 weights each.
  const w = Float32Array.from([1, -0.5, 0.26, 0.2, 0.11, -0.05]);
  const { values, scales } = quantizeWeightsPerChannel(w, 2);
  assert.deepEqual(Array.from(scales), [Math.fround(1 / 127), Math.fround(0.2 / 127)]);
  // 1 -> 127, -0.5 -> -63.5 -> -63 (round half up), 0.26 -> 33.02 -> 33; 0.2 -> 127, 0.11 -> 69.85 -> 70, -0.05 -> -31.75 -> -32
  assert.deepEqual(Array.from(values), [127, -63, 33, 127, 70, -32]);
  // An all-zero channel keeps scale 1 (no division by zero) and zero weights.
  const zero = quantizeWeightsPerChannel(new Float32Array(4), 2);
  assert.deepEqual(Array.from(zero.scales), [1, 1]);
  assert.deepEqual(Array.from(zero.values), [0, 0, 0, 0]);
});

test('uint8 activation parameters cover the range and represent zero exactly', () => {
  assert.deepEqual(activationQuant({ min: -1, max: 3 }), { scale: 4 / 255, zeroPoint: 64 });
  // A ReLU output: zero point 0, the whole 0..255 for the positive range.
  assert.deepEqual(activationQuant({ min: 0, max: 5.1 }), { scale: 5.1 / 255, zeroPoint: 0 });
  // All-positive ranges are widened to include 0; a constant zero tensor gets scale 1.
  assert.deepEqual(activationQuant({ min: 2, max: 2.55 }), { scale: 2.55 / 255, zeroPoint: 0 });
  assert.deepEqual(activationQuant({ min: 0, max: 0 }), { scale: 1, zeroPoint: 0 });
});

/** A small residual conv net (the ResNet pattern): conv-relu-conv-relu-conv + shortcut -> add -> relu -> mean. */
function residualNet(rng: SeededRandom): Uint8Array {
  const g = new GraphBuilder('residual');
  const x = g.input('x', 'float32', ['batch', 3, 12, 12]);
  const weights = (o: number, i: number, k: number) => tensor32(Float32Array.from({ length: o * i * k * k }, () => (rng.nextFloat() - 0.5) / Math.sqrt(i * k * k)), [o, i, k, k]);
  const bias = (o: number) => Float32Array.from({ length: o }, () => (rng.nextFloat() - 0.5) * 0.2);
  const stem = g.op('Relu', [conv2d(g, x, { weight: weights(16, 3, 3), bias: bias(16), pads: [1, 1, 1, 1] }, 'stem')]);
  const a = g.op('Relu', [conv2d(g, stem, { weight: weights(8, 16, 1), bias: bias(8) }, 'branch_a')]);
  const b = g.op('Relu', [conv2d(g, a, { weight: weights(8, 8, 3), bias: bias(8), pads: [1, 1, 1, 1] }, 'branch_b')]);
  const c = conv2d(g, b, { weight: weights(16, 8, 1), bias: bias(16) }, 'branch_c');
  const sum = g.op('Relu', [g.op('Add', [c, stem], {}, 'residual')]);
  const pooled = g.op('ReduceMean', [sum], { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
  g.output(pooled, 'y', 'float32', ['batch', 16]);
  return g.serialize();
}

function randomInput(rng: SeededRandom): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from({ length: 3 * 12 * 12 }, () => 2 * rng.nextFloat() - 0.5), [1, 3, 12, 12]);
}

test('a small residual net quantized in QDQ form runs in onnxruntime within int8 accuracy of fp32', async () => {
  const rng = new SeededRandom(13);
  const bytes = residualNet(rng);
  const model = onnx.ModelProto.decode(bytes);
  const targets = quantizationTargets(model.graph!);
  // The inputs of the 4 Convs and both inputs of the residual Add (the stem's ReLU output is one of both).
  assert.equal(targets.length, 5);
  const ranges = await calibrateRanges(model, targets, Array.from({ length: 16 }, () => ({ x: randomInput(rng) })), { threads: 1 });
  for (const t of targets) assert.ok(Number.isFinite(ranges.get(t)!.min) && ranges.get(t)!.max > ranges.get(t)!.min, t);
  const summary = insertQdq(model, ranges);
  assert.deepEqual(summary, { convs: 4, adds: 1, activations: 5 });
  const ops = model.graph!.node!.map((n) => n.opType);
  assert.equal(ops.filter((o) => o === 'QuantizeLinear').length, 5);
  assert.equal(ops.filter((o) => o === 'DequantizeLinear').length, 5 + 4 + 4); // activations, weights, biases
  // The float weights are gone: only int8 weights and int32 biases remain for the convolutions.
  const types = model.graph!.initializer!.filter((t) => /weight|bias/.test(t.name ?? '') && !/scale|zero_point/.test(t.name ?? '')).map((t) => t.dataType);
  assert.deepEqual([...new Set(types)].sort(), [DataType.int8, DataType.int32].sort());

  const options = { intraOpNumThreads: 1, logSeverityLevel: 3 as const };
  const fp32 = await ort.InferenceSession.create(bytes, options);
  const int8 = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), options);
  let worstCosine = 1;
  let differs = false;
  for (let i = 0; i < 8; i++) {
    const feed = { x: randomInput(rng) };
    const a = (await fp32.run(feed)).y.data as Float32Array;
    const b = (await int8.run(feed)).y.data as Float32Array;
    let dot = 0, na = 0, nb = 0;
    for (let k = 0; k < a.length; k++) {
      dot += a[k] * b[k];
      na += a[k] * a[k];
      nb += b[k] * b[k];
      if (a[k] !== b[k]) differs = true;
    }
    worstCosine = Math.min(worstCosine, dot / Math.sqrt(na * nb));
  }
  // 8-bit activations and weights through 4 layers: ~1% relative error per value, cosine >= 0.995.
  assert.ok(worstCosine >= 0.995, `cosine ${worstCosine}`);
  assert.ok(differs, 'the int8 graph should not compute exactly what fp32 does');
  await fp32.release();
  await int8.release();
});

test('a tensor without a calibration range is refused', () => {
  const model = onnx.ModelProto.decode(residualNet(new SeededRandom(1)));
  assert.throws(() => insertQdq(model, new Map()), /no calibration range for activation/);
});

test('quantize refuses a model without convolutions; --precision int8 without quantize says what to run', async () => {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-quantize-'));
  const dataset = await makeSyntheticDataset(3);
  try {
    // The served-model fixture's stand-in backbone is block means and a projection: no Conv.
    const modelDir = await createServedModel(work);
    await writeTrainPhotos(dataset.root);
    await assert.rejects(openExportedModel(modelDir, { precision: 'int8' }), (e: unknown) => e instanceof UserError && /no int8 image encoder; make one with: recipe-retrieval quantize/.test(e.message));
    const run = runCli(['quantize', '--model', modelDir, dataset.root, '--photos', '2'], { timeoutMs: 120_000 });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /has no convolution to quantize/);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await fs.rm(dataset.root, { recursive: true, force: true });
  }
});

/** Random JPEGs at the train split's first-image paths (the synthetic dataset has features only). */
async function writeTrainPhotos(root: string): Promise<void> {
  const ds = await RecipeDataset.open(root);
  const rng = new SeededRandom(2);
  for (const recipe of await ds.readPaired('train')) {
    const file = ds.firstImagePath('train', recipe);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const pixels = Buffer.from(Array.from({ length: 64 * 48 * 3 }, () => rng.nextInt(256)));
    await sharp(pixels, { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toFile(file);
  }
}

/** A photo encoder with the real interface (uint8 NHWC 224 crop in) and a conv backbone. */
function convPhotoEncoder(rng: SeededRandom): Uint8Array {
  const g = new GraphBuilder('photo');
  const image = g.input('image', 'uint8', ['batch', 224, 224, 3]);
  const x = g.op('Transpose', [g.op('Cast', [image], { to: attr.int(DataType.float32) })], { perm: attr.ints([0, 3, 1, 2]) });
  const w = (o: number, i: number, k: number) => tensor32(Float32Array.from({ length: o * i * k * k }, () => (rng.nextFloat() - 0.5) / (40 * Math.sqrt(i * k * k))), [o, i, k, k]);
  const c1 = g.op('Relu', [conv2d(g, x, { weight: w(8, 3, 8), bias: new Float32Array(8), strides: [8, 8] }, 'stem')]);
  const c2 = g.op('Relu', [conv2d(g, c1, { weight: w(8, 8, 3), bias: new Float32Array(8).fill(0.1), pads: [1, 1, 1, 1] }, 'body')]);
  const pooled = g.op('ReduceMean', [g.op('Add', [c2, c1])], { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
  g.output(pooled, 'embedding', 'float32', ['batch', 8]);
  return g.serialize();
}

test('quantizeModel: int8 encoder written next to the fp32 one and recorded in the manifest; the model identity is kept', async () => {
  const dataset = await makeSyntheticDataset(3);
  const modelDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-quantize-model-'));
  try {
    await writeTrainPhotos(dataset.root);
    const graph = convPhotoEncoder(new SeededRandom(6));
    await fs.writeFile(path.join(modelDir, 'image_encoder.onnx'), graph);
    // Only what quantize reads of an export manifest (format, version, the image encoder, files).
    const manifest = {
      format: 'recipe-retrieval-onnx-export', version: 1, modelId: 'conv-test',
      models: { imageEncoder: { file: 'image_encoder.onnx' } },
      files: { 'image_encoder.onnx': { sha256: await sha256File(path.join(modelDir, 'image_encoder.onnx')), bytes: graph.length } },
    };
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    await fs.writeFile(path.join(modelDir, 'manifest.json'), manifestText);
    const identity = modelManifestSha256(Buffer.from(manifestText));

    const record = await quantizeModel({ modelDir, datasetRoot: dataset.root, split: 'train', maxPhotos: 5 });
    assert.equal(record.file, 'image_encoder.int8.onnx');
    assert.equal(record.sha256, await sha256File(path.join(modelDir, record.file)));
    assert.equal(record.source.sha256, manifest.files['image_encoder.onnx'].sha256);
    assert.deepEqual(record.nodes, { convs: 2, adds: 1, activations: 3 });
    assert.equal(record.calibration.photos, 5);
    assert.equal(record.calibration.split, 'train');
    const written = await fs.readFile(path.join(modelDir, 'manifest.json'));
    assert.deepEqual(JSON.parse(written.toString()).quantized.int8, record);
    // Indexes record modelManifestSha256: quantizing leaves it as it was.
    assert.equal(record.baseManifestSha256, identity);
    assert.equal(modelManifestSha256(written), identity);
    assert.notEqual(modelManifestSha256(Buffer.from(manifestText.replace('conv-test', 'other'))), identity);

    // Real photos through both graphs: the int8 embedding stays close to fp32.
    const fp32 = await ort.InferenceSession.create(path.join(modelDir, 'image_encoder.onnx'), { logSeverityLevel: 3 });
    const int8 = await ort.InferenceSession.create(path.join(modelDir, record.file), { logSeverityLevel: 3 });
    const ds = await RecipeDataset.open(dataset.root);
    for (const recipe of (await ds.readPaired('train')).slice(5)) {
      const crop = await loadTestCrop(ds.firstImagePath('train', recipe));
      const feed = { image: new ort.Tensor('uint8', crop.data, [1, 224, 224, 3]) };
      const a = (await fp32.run(feed)).embedding.data as Float32Array;
      const b = (await int8.run(feed)).embedding.data as Float32Array;
      let dot = 0, na = 0, nb = 0;
      for (let k = 0; k < a.length; k++) {
        dot += a[k] * b[k];
        na += a[k] * a[k];
        nb += b[k] * b[k];
      }
      assert.ok(dot / Math.sqrt(na * nb) > 0.99, `cosine ${dot / Math.sqrt(na * nb)}`);
    }
    await fp32.release();
    await int8.release();
  } finally {
    await fs.rm(modelDir, { recursive: true, force: true });
    await fs.rm(dataset.root, { recursive: true, force: true });
  }
});
