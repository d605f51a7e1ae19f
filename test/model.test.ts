import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { fromRoot } from '../src/util/paths.js';
import { UserError } from '../src/util/errors.js';
import { presetConfig, validateModelConfig, type ModelConfig } from '../src/model/config.js';
import { modelParamSpecs, recipeEncoderSpecs, classifierTransformerSpecs, elementCount } from '../src/model/param-spec.js';
import { ParamStore, type ParamReader } from '../src/model/param-store.js';
import { forward, type ModelBatch } from '../src/model/forward.js';
import { maskedMean } from '../src/model/masked-mean.js';
import { sinePositionValues } from '../src/model/sine-position.js';
import { sequenceBlock } from '../src/model/sequence-block.js';
import { encodeLineWords } from '../src/model/recipe-encoder.js';
import { embedAll } from '../src/model/embedding.js';
import { SeedStream, type LayerContext } from '../src/model/layer-context.js';
import { LabelledRandom } from '../src/util/labelled-random.js';
import { trainingLoss } from '../src/train/losses.js';
import { AdamW } from '../src/train/adamw.js';
import { registerWasmKernels } from '../src/tf/wasm-kernels.js';

await tf.setBackend('cpu');

const VOCAB = 40;
const LABELS = 6;
const tiny = presetConfig('tiny', { vocabSize: VOCAB, labels: LABELS });
const evalCtx = (config: ModelConfig): LayerContext => ({
  training: false, dropout: config.dropout, layerNormEps: config.layerNormEps, seeds: new SeedStream('t'), checkpoint: false,
});

/** Token ids [...shape] with the given number of real tokens per row (rest 0), ids in 1..VOCAB-1. */
function ids(shape: number[], lengths: number[], rng: LabelledRandom): tf.Tensor {
  const width = shape[shape.length - 1];
  const values = new Int32Array(shape.reduce((a, b) => a * b, 1));
  lengths.forEach((len, row) => {
    for (let t = 0; t < len; t++) values[row * width + t] = 1 + Math.floor(rng.uniform() * (VOCAB - 1));
  });
  return tf.tensor(values, shape, 'int32');
}

/** A fixed tiny batch: 3 recipes, the last ingredient line of recipe 1 and two instruction lines of recipe 2 all padding. */
function tinyBatch(seed = 1): ModelBatch {
  const rng = new LabelledRandom(seed);
  return {
    imageFeatures: tf.tensor(Array.from({ length: 3 * 7 * 7 * tiny.backboneChannels }, () => rng.normal()), [3, 7, 7, tiny.backboneChannels]) as tf.Tensor4D,
    recipe: {
      title: ids([3, 5], [5, 3, 2], rng) as tf.Tensor2D,
      ingredients: ids([3, 3, 4], [4, 2, 3, 1, 4, 0, 2, 2, 3], rng) as tf.Tensor3D,
      instructions: ids([3, 4, 6], [6, 3, 5, 2, 1, 1, 2, 4, 4, 6, 0, 0], rng) as tf.Tensor3D,
    },
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function closeTo(actual: tf.Tensor, expected: tf.Tensor | ArrayLike<number>, tol: number, label: string): void {
  const exp = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  const diff = maxAbsDiff(actual.dataSync(), exp);
  assert.ok(diff <= tol, `${label}: max abs diff ${diff} > ${tol}`);
}

test('presets validate; bad configs are rejected with a reason', () => {
  for (const name of ['paper', 'cpu', 'tiny']) presetConfig(name, { vocabSize: 100, labels: 7 });
  assert.throws(() => presetConfig('huge', { vocabSize: 100, labels: 7 }), /unknown model preset "huge"/);
  const bad = structuredClone(tiny);
  bad.recipe.heads = 3;
  assert.throws(() => validateModelConfig(bad, 'x.json'), (e: unknown) => e instanceof UserError && /x\.json.*not divisible/.test((e as Error).message));
  const noProj = structuredClone(tiny);
  noProj.classifier.inputProjection = false;
  assert.throws(() => validateModelConfig(noProj, 'y.json'), /must equal backboneChannels/);
  assert.throws(() => validateModelConfig({ ...tiny, dropout: 1 }, 'z'), /dropout/);
  // A config survives a JSON round trip unchanged (it is saved beside checkpoints).
  assert.deepEqual(validateModelConfig(JSON.parse(JSON.stringify(tiny)), 'json'), tiny);
});

test('paper preset: parameter names, order and shapes are the seed state dict (backbone aside)', () => {
  const fixture = JSON.parse(readFileSync(fromRoot('test/fixtures/model/paper-state-dict-keys.json'), 'utf8'));
  const paper = presetConfig('paper', { vocabSize: 16303, labels: 500 });
  for (const [stage, debias] of [['stage1', false], ['stage2', true]] as const) {
    const specs = modelParamSpecs(paper, { debias });
    assert.deepEqual(specs.map((s) => [s.name, s.shape]), fixture[stage].keys, stage);
    const byModule = new Map<string, number>();
    for (const s of specs) {
      const top = s.name.split('.')[0];
      byModule.set(top, (byModule.get(top) ?? 0) + elementCount(s.shape));
    }
    assert.deepEqual(Object.fromEntries(byModule), fixture[stage].elements_by_top_level_module, stage);
  }
  // The two big blocks on their own: 39,998,976 and 151,078,912 scalars in the seed.
  const count = (specs: { shape: number[] }[]) => specs.reduce((n, s) => n + elementCount(s.shape), 0);
  assert.equal(count(recipeEncoderSpecs(paper)), 39_998_976);
  assert.equal(count(classifierTransformerSpecs(paper)), 151_078_912);
});

test('ParamStore: seeded init is reproducible per name; strict loading names what is wrong', () => {
  const specs = modelParamSpecs(tiny, { debias: false });
  const a = ParamStore.initialise(specs, 7);
  const b = ParamStore.initialise([...specs].reverse(), 7);
  const c = ParamStore.initialise(specs, 8);
  const name = 'text_encoder.tfs.title.tf.layers.0.linear1.weight';
  assert.deepEqual(a.get(name).dataSync(), b.get(name).dataSync());
  assert.notDeepEqual(a.get(name).dataSync(), c.get(name).dataSync());
  assert.deepEqual(a.get('text_encoder.tfs.title.tf.layers.0.norm1.weight').dataSync(), new Float32Array(tiny.recipe.width).fill(1));
  const bound = 1 / Math.sqrt(tiny.recipe.width);
  assert.ok(Math.max(...a.get(name).dataSync().map(Math.abs)) <= bound);

  const saved = a.toNamedTensors();
  const reloaded = ParamStore.fromNamedTensors(specs, saved, 'ckpt.bin');
  assert.deepEqual(reloaded.get(name).dataSync(), a.get(name).dataSync());
  const missing = new Map(saved);
  missing.delete('img_fc.bias');
  assert.throws(() => ParamStore.fromNamedTensors(specs, missing, 'ckpt.bin'), /ckpt\.bin.*missing 1 parameter\(s\): img_fc\.bias/);
  const wrong = new Map(saved);
  wrong.set('img_fc.bias', tf.zeros([3]));
  assert.throws(() => ParamStore.fromNamedTensors(specs, wrong, 'ckpt.bin'), /img_fc\.bias has shape \[3\]/);
  // Stage 2 adds Wv to a stage-1 store.
  assert.deepEqual(reloaded.addMissing(modelParamSpecs(tiny, { debias: true }), 7), ['Wv.weight', 'Wv.bias']);
  for (const s of [a, b, c, reloaded]) s.dispose();
});

test('forward: output shapes of every part (tiny preset)', () => {
  const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: true }), 3);
  const batch = tinyBatch();
  const dictionary = tf.randomNormal([LABELS, tiny.recipe.width], 0, 1, 'float32', 1) as tf.Tensor2D;
  const out = forward(params, tiny, batch, { training: false, dictionary });
  const E = tiny.embeddingDim;
  const W = tiny.recipe.width;
  assert.deepEqual(out.image!.embedding.shape, [3, E]);
  assert.deepEqual(out.image!.logits!.shape, [3, LABELS]);
  assert.deepEqual(out.image!.classifierMemory!.shape, [3, 49, tiny.classifier.width]);
  assert.deepEqual(out.image!.classifierDecoded!.shape, [3, LABELS, tiny.classifier.width]);
  assert.deepEqual(out.image!.debiased!.embedding.shape, [3, E]);
  assert.deepEqual(out.image!.debiased!.dictProjected.shape, [LABELS, E]);
  assert.deepEqual(out.recipe!.embedding.shape, [3, E]);
  for (const f of Object.values(out.recipe!.features)) assert.deepEqual(f.shape, [3, W]);
  assert.equal(Object.keys(out.recipe!.projections).length, 6);
  for (const p of Object.values(out.recipe!.projections)) assert.deepEqual(p.shape, [3, W]);
  assert.deepEqual(out.recipe!.lines.ingredients.shape, [9, W]);
  assert.deepEqual(out.recipe!.lines.instructions.shape, [12, W]);
  // tanh outputs, and everything finite.
  assert.ok(Math.max(...out.recipe!.embedding.dataSync().map(Math.abs)) < 1);
  assert.ok(out.recipe!.lines.instructions.dataSync().every(Number.isFinite));
  // Image-only and recipe-only batches run the matching half only.
  const imageOnly = forward(params, tiny, { imageFeatures: batch.imageFeatures }, { training: false });
  assert.equal(imageOnly.recipe, undefined);
  assert.equal(imageOnly.image!.logits, undefined);
  closeTo(imageOnly.image!.embedding, out.image!.embedding, 0, 'e_I');
  assert.throws(() => forward(params, tiny, { imageFeatures: tf.zeros([1, 7, 7, 5]) as tf.Tensor4D }, { training: false }), /NHWC/);
  params.dispose();
});

function loadSeedFixture(): { params: ParamReader; config: ModelConfig; get(name: string): tf.Tensor; input(name: string): tf.Tensor } {
  const manifest = JSON.parse(readFileSync(fromRoot('test/fixtures/model/seed-small-recipe.json'), 'utf8'));
  const buf = readFileSync(fromRoot('test/fixtures/model/seed-small-recipe.bin'));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const tensors = new Map<string, tf.Tensor>();
  for (const e of manifest.tensors) {
    tensors.set(e.name, tf.tensor(all.subarray(e.offset, e.offset + elementCount(e.shape)), e.shape));
  }
  const config = validateModelConfig({
    vocabSize: 300, recipe: { width: 80, heads: 4, layersPerBlock: 2, feedForward: 192, maxPositions: 50 },
    embeddingDim: 96, backboneChannels: 128,
    classifier: { width: 128, heads: 4, feedForward: 384, encoderLayers: 1, decoderLayers: 2, inputProjection: false, labels: 20 },
    dropout: 0.1, layerNormEps: 1e-5,
  }, 'seed small');
  const params: ParamReader = { get: (n) => tensors.get(n)!, names: () => [...tensors.keys()].filter((n) => !n.startsWith('expected.')) };
  return {
    params, config, get: (n) => tensors.get(n)!,
    input: (n) => tf.tensor(manifest.inputs[n].ids, manifest.inputs[n].shape, 'int32'),
  };
}

test('reproduces the seed PyTorch title block and ingredient line features (incl. all-padding lines)', () => {
  const fx = loadSeedFixture();
  const ctx = evalCtx(fx.config);
  const title = fx.input('title') as tf.Tensor2D;
  const ingredients = fx.input('ingredients') as tf.Tensor3D;
  const [titleWords, ingredientWords] = embedAll(fx.params.get('text_encoder.word_embedding.weight') as tf.Tensor2D, [title, ingredients]);
  const valid = tf.cast(tf.notEqual(title, 0), 'float32') as tf.Tensor2D;
  const fTitle = sequenceBlock(fx.params, 'text_encoder.tfs.title', titleWords as tf.Tensor3D, valid, fx.config.recipe, ctx);
  closeTo(fTitle, fx.get('expected.feat_title'), 2e-5, 'feat_title');
  const lines = encodeLineWords(fx.params, fx.config, 'ingredients', ingredients, ingredientWords, ctx);
  closeTo(lines, fx.get('expected.ingredient_line_feats'), 2e-5, 'ingredient_line_feats');
  // The golden really has all-padding lines (recipes 1 and 2), so the position-0 rule was exercised.
  const padded = tf.sum(tf.cast(tf.greater(tf.sum(ingredients, -1), 0), 'int32')).dataSync()[0];
  assert.equal(padded, 24 - 6);
});

test('sine position map equals the seed (DETR normalised, temperature 10000, y then x)', () => {
  const fx = loadSeedFixture();
  const chw = fx.get('expected.pos_embed_chw').dataSync();
  const ours = sinePositionValues(7, 7, 128); // [(y*7+x), c]
  const reordered = new Float32Array(128 * 49);
  for (let p = 0; p < 49; p++) for (let c = 0; c < 128; c++) reordered[c * 49 + p] = ours[p * 128 + c];
  assert.ok(maxAbsDiff(reordered, chw) < 1e-6);
});

test('masked mean: padded positions get no weight; the sum uses 1/(count+1e-12) weights', () => {
  const feats = tf.tensor3d([[[1, 2], [3, 4], [100, 100]], [[5, 6], [7, 8], [9, 10]]]);
  const valid = tf.tensor2d([[1, 1, 0], [1, 0, 1]]);
  assert.deepEqual(Array.from(maskedMean(feats, valid).dataSync()), [2, 3, 7, 8]);
});

test('an all-padding line pools to the encoder output at position 0 of padding embeddings', () => {
  const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: false }), 5);
  const ctx = evalCtx(tiny);
  const lines = tf.tensor3d([[[4, 5, 6, 0], [0, 0, 0, 0]]], undefined, 'int32');
  const [words] = embedAll(params.get('text_encoder.word_embedding.weight') as tf.Tensor2D, [lines]);
  const vectors = encodeLineWords(params, tiny, 'ingredients', lines, words, ctx).arraySync() as number[][];
  assert.ok(vectors[1].every(Number.isFinite));
  // Explicitly: a length-1 sequence holding the padding id, fully valid.
  const one = tf.tensor2d([[0]], undefined, 'int32');
  const [oneWords] = embedAll(params.get('text_encoder.word_embedding.weight') as tf.Tensor2D, [one]);
  const explicit = sequenceBlock(params, 'text_encoder.tfs.ingredients', oneWords as tf.Tensor3D, tf.ones([1, 1]) as tf.Tensor2D, tiny.recipe, ctx);
  assert.ok(maxAbsDiff(vectors[1], explicit.dataSync()) < 1e-6);
  // And it differs from the real line's vector (the embedding of id 0 is not zero).
  assert.ok(maxAbsDiff(vectors[0], vectors[1]) > 1e-3);
  params.dispose();
});

test('extra padding (longer lines, more empty lines, longer titles) changes no output', () => {
  const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: false }), 6);
  const batch = tinyBatch(2);
  const r = batch.recipe!;
  const padded: ModelBatch = {
    imageFeatures: batch.imageFeatures,
    recipe: {
      title: tf.pad(r.title, [[0, 0], [0, 3]]) as tf.Tensor2D,
      ingredients: tf.pad(r.ingredients, [[0, 0], [0, 2], [0, 5]]) as tf.Tensor3D,
      instructions: tf.pad(r.instructions, [[0, 0], [0, 1], [0, 0]]) as tf.Tensor3D,
    },
  };
  const a = forward(params, tiny, batch, { training: false }).recipe!;
  const b = forward(params, tiny, padded, { training: false }).recipe!;
  closeTo(b.embedding, a.embedding, 1e-6, 'e_R');
  for (const c of ['title', 'ingredients', 'instructions'] as const) closeTo(b.features[c], a.features[c], 1e-6, c);
  // The real lines' vectors are unchanged too (rows move because each recipe has more lines now).
  const aLines = a.lines.ingredients.arraySync() as number[][];
  const bLines = b.lines.ingredients.arraySync() as number[][];
  assert.ok(maxAbsDiff(bLines[5 + 1].concat(bLines[0]), aLines[3 + 1].concat(aLines[0])) < 1e-6);
  params.dispose();
});

test('debiasing: no label kept leaves e_I exactly; kept labels add pi V computed by hand', () => {
  const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: true }), 9);
  // Zero label weights make logit_c = b_c exactly, so the test picks which labels pass 0.5.
  params.get('fc.W').assign(tf.zerosLike(params.get('fc.W')));
  const bias = [-3, 2, -0.5, 0.7, -8, 1.5]; // sigmoid: .047 .881 .378 .668 .0003 .818
  params.get('fc.b').assign(tf.tensor2d([bias]));
  const dictionary = tf.randomNormal([LABELS, tiny.recipe.width], 0, 1, 'float32', 2) as tf.Tensor2D;
  const batch = { imageFeatures: tinyBatch().imageFeatures };
  const out = forward(params, tiny, batch, { training: false, dictionary }).image!;
  const eI = out.embedding.arraySync() as number[][];
  const debiased = out.debiased!.embedding.arraySync() as number[][];
  // By hand (float64): V = D Wv^T + b, pi over kept labels {1, 3, 5}.
  const D = dictionary.arraySync() as number[][];
  const Wv = params.get('Wv.weight').arraySync() as number[][];
  const bv = params.get('Wv.bias').arraySync() as number[];
  const p = bias.map((b) => 1 / (1 + Math.exp(-b)));
  const kept = p.map((v) => (v >= 0.5 ? v : 0));
  const total = kept.reduce((a, b) => a + b, 0);
  const pi = kept.map((v) => v / total);
  const z = bv.map((b, e) => pi.reduce((acc, w, c) => acc + w * (D[c].reduce((s, d, k) => s + d * Wv[e][k], 0) + b), 0));
  for (let i = 0; i < 3; i++) assert.ok(maxAbsDiff(debiased[i], eI[i].map((v, e) => v + z[e])) < 1e-5);
  assert.ok(maxAbsDiff(out.debiased!.probNormalised.arraySync()[0] as number[], pi) < 1e-6);

  params.get('fc.b').assign(tf.fill([1, LABELS], -2));
  const none = forward(params, tiny, batch, { training: false, dictionary }).image!;
  assert.deepEqual(none.debiased!.embedding.dataSync(), none.embedding.dataSync());
  assert.ok(none.debiased!.z.dataSync().every((v) => v === 0));
  // Its gradient is defined too (no 0/0 in backprop).
  const { grads } = params.valueAndGrads(() =>
    tf.sum(forward(params, tiny, batch, { training: false, dictionary }).image!.debiased!.embedding) as tf.Scalar);
  assert.ok(grads.get('fc.b')!.dataSync().every(Number.isFinite));
  params.dispose();
});

test('one AdamW step lowers the total loss on a fixed batch', () => {
  const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: true }), 11);
  const batch = tinyBatch(4);
  const dictionary = tf.randomNormal([LABELS, tiny.recipe.width], 0, 1, 'float32', 3) as tf.Tensor2D;
  const targets = tf.tensor2d([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0]]);
  const loss = () => trainingLoss(forward(params, tiny, batch, { training: false, dictionary }), { targets, classificationWeight: 0.001 }).total;
  const optimizer = new AdamW({ learningRate: 1e-3 });
  const { value, grads } = params.valueAndGrads(loss);
  // Every parameter reaches the stage-2 loss.
  assert.equal(grads.size, params.names().length);
  optimizer.step(params, grads);
  const after = tf.tidy(loss).dataSync()[0];
  assert.ok(after < value.dataSync()[0] - 1e-3, `loss ${value.dataSync()[0]} -> ${after}`);
  params.dispose();
  optimizer.dispose();
});

test('gradient checkpointing gives the same loss and gradients as plain backprop (dropout on, same seed)', () => {
  const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: true }), 12);
  const batch = tinyBatch(5);
  const dictionary = tf.randomNormal([LABELS, tiny.recipe.width], 0, 1, 'float32', 4) as tf.Tensor2D;
  const targets = tf.tensor2d([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0]]);
  const run = (checkpoint: boolean) => params.valueAndGrads(() => trainingLoss(
    forward(params, tiny, batch, { training: true, dictionary, dropoutSeed: 'same', checkpoint }),
    { targets, classificationWeight: 0.001 },
  ).total);
  const before = tf.memory().numTensors;
  const plain = run(false);
  const ckpt = run(true);
  assert.equal(ckpt.value.dataSync()[0], plain.value.dataSync()[0]);
  for (const [name, g] of plain.grads) closeTo(ckpt.grads.get(name)!, g, 1e-6, name);
  // Dropout is really on: another seed gives another loss.
  const other = tf.tidy(() => trainingLoss(forward(params, tiny, batch, { training: true, dictionary, dropoutSeed: 'other' }), { targets, classificationWeight: 0.001 }).total);
  assert.notEqual(other.dataSync()[0], plain.value.dataSync()[0]);
  // No tensor leaks from the nested gradient passes.
  for (const r of [plain, ckpt]) { r.value.dispose(); for (const g of r.grads.values()) g.dispose(); }
  other.dispose();
  assert.equal(tf.memory().numTensors, before);
  params.dispose();
});

test('forward + backward on the wasm backend (with the JS kernels) matches the cpu backend', async () => {
  const gradsOn = async (backend: string) => {
    await tf.setBackend(backend);
    const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: true }), 13);
    const batch = tinyBatch(6);
    const dictionary = tf.tensor2d(Array.from({ length: LABELS * tiny.recipe.width }, (_, i) => Math.sin(i)), [LABELS, tiny.recipe.width]);
    const targets = tf.tensor2d([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0]]);
    const { value, grads } = params.valueAndGrads(() => trainingLoss(
      forward(params, tiny, batch, { training: true, dictionary, dropoutSeed: 'w', checkpoint: true }),
      { targets, classificationWeight: 0.001 },
    ).total);
    const result = { loss: value.dataSync()[0], grads: new Map([...grads].map(([n, g]) => [n, g.dataSync().slice()])) };
    params.dispose();
    return result;
  };
  registerWasmKernels();
  try {
    const onWasm = await gradsOn('wasm');
    const onCpu = await gradsOn('cpu');
    assert.ok(Math.abs(onWasm.loss - onCpu.loss) < 1e-5);
    assert.equal(onWasm.grads.size, onCpu.grads.size);
    for (const [name, g] of onCpu.grads) {
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      assert.ok(maxAbsDiff(onWasm.grads.get(name)!, g) <= 1e-4 * scale, name);
    }
  } finally {
    await tf.setBackend('cpu');
  }
});

test('a batch whose longest ingredient and instruction lines hold one id (or none) encodes to finite vectors', () => {
  const params = ParamStore.initialise(modelParamSpecs(tiny, { debias: false }), 5);
  const rng = new LabelledRandom(9);
  const outputs = forward(params, tiny, {
    recipe: {
      title: ids([1, 2], [2], rng) as tf.Tensor2D,
      ingredients: tf.zeros([1, 1, 1], 'int32') as tf.Tensor3D,
      instructions: ids([1, 2, 1], [1, 1], rng) as tf.Tensor3D,
    },
  }, { training: false });
  const embedding = outputs.recipe!.embedding;
  assert.deepEqual(embedding.shape, [1, tiny.embeddingDim]);
  assert.ok((embedding.dataSync() as Float32Array).every(Number.isFinite));
  params.dispose();
});
