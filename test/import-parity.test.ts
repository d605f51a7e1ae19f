import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { writePickleFile } from '../src/data/pickle/pickle.js';
import { ExportParams } from '../src/export/export-params.js';
import { checkManifestFiles, readExportManifest } from '../src/model-format/manifest.js';
import { relativeError } from '../src/export/parity.js';
import { CheckpointTensors, findStateDict } from '../src/import/checkpoint-tensors.js';
import { importSeedCheckpoint, projectDictionary } from '../src/import/import-checkpoint.js';
import { readIngredientDictionary } from '../src/import/ingredient-dictionary.js';
import { modelPieces } from '../src/import/onnx-stream.js';
import { seedImageEncoderModel } from '../src/import/seed-graphs.js';
import { BACKBONE_PREFIX, planSeedImport } from '../src/import/seed-state-dict.js';
import { TorchCheckpoint } from '../src/import/torch-checkpoint.js';
import { buildTorchvisionTrunkModel } from './helpers/torchvision-trunk.js';
import { onnx } from '../src/onnx/proto.js';
import { fromRoot } from '../src/util/paths.js';
import { runCli } from './helpers/cli.js';

/** The bar: max |ours - theirs| / max |theirs| per output. */
const TOLERANCE = 1e-4;
const golden = (...p: string[]): string => fromRoot('test/fixtures/seed-goldens/small', ...p);
const tmp = await mkdtemp(path.join(os.tmpdir(), 'import-parity-test-'));
test.after(() => rm(tmp, { recursive: true, force: true }));

async function bytesOf(file: string): Promise<ArrayBuffer> {
  const b = await readFile(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
const float32 = async (p: string): Promise<Float32Array> => new Float32Array(await bytesOf(golden(p)));
const int64 = async (p: string): Promise<BigInt64Array> => new BigInt64Array(await bytesOf(golden(p)));

const vocab = path.join(tmp, 'vocab.pkl');
const labels = path.join(tmp, 'ing2label.pkl');
// The goldens' vocabulary: 0 <pad>, 1 <start>, 2 <end>, 3..298 words, 299 <unk>; 20 labels.
await writePickleFile(vocab, new Map<number, string>([[0, '<pad>'], [1, '<start>'], [2, '<end>'], ...Array.from({ length: 296 }, (_, i): [number, string] => [i + 3, `w${i + 3}`]), [299, '<unk>']]));
await writePickleFile(labels, new Map(Array.from({ length: 20 }, (_, i) => [`ingredient ${(i * 7) % 20}`, i])));

interface Outputs {
  embedding: Float32Array;
  logits: Float32Array;
  debiased: Float32Array;
  recipe: Float32Array;
}

async function runImported(dir: string): Promise<Outputs> {
  const image = await ort.InferenceSession.create(path.join(dir, 'image_encoder.onnx'), { executionProviders: ['cpu'] });
  const crops = new Uint8Array(await bytesOf(golden('inputs/images_uint8_hwc.bin')));
  const o = await image.run({ image: new ort.Tensor('uint8', crops, [4, 224, 224, 3]) });
  const recipe = await ort.InferenceSession.create(path.join(dir, 'recipe_encoder.onnx'), { executionProviders: ['cpu'] });
  const r = await recipe.run({
    title: new ort.Tensor('int64', await int64('inputs/title_ids.bin'), [4, 8]),
    ingredients: new ort.Tensor('int64', await int64('inputs/ingredient_ids.bin'), [4, 6, 9]),
    instructions: new ort.Tensor('int64', await int64('inputs/instruction_ids.bin'), [4, 5, 12]),
  });
  await image.release();
  await recipe.release();
  return {
    embedding: o.embedding.data as Float32Array,
    logits: o.ingredient_logits.data as Float32Array,
    debiased: o.debiased_embedding.data as Float32Array,
    recipe: r.embedding.data as Float32Array,
  };
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): number {
  const { relError, maxAbsRef } = relativeError(actual, expected);
  assert.ok(maxAbsRef > 0.1, `${what}: the golden is (nearly) all zeros`);
  assert.ok(relError <= TOLERANCE, `${what}: relative error ${relError}`);
  return relError;
}

test('stage 1: the imported ONNX files reproduce the seed outputs', async () => {
  const out = path.join(tmp, 'models', 'seed-stage1');
  const summary = await importSeedCheckpoint({ checkpoint: golden('stage1.pth.tar'), vocab, labels, outDir: out });
  assert.equal(summary.debiasActive, false);
  const got = await runImported(out);
  const errors = {
    embedding: assertClose(got.embedding, await float32('stage1/img_emb.bin'), 'stage1 embedding'),
    logits: assertClose(got.logits, await float32('stage1/logits.bin'), 'stage1 logits'),
    recipe: assertClose(got.recipe, await float32('stage1/recipe_emb.bin'), 'stage1 recipe embedding'),
  };
  // No Wv: the debiased output is the plain embedding, bit for bit.
  assert.deepEqual(got.debiased, got.embedding);
  process.stderr.write(`stage1 relative errors: ${JSON.stringify(errors)}\n`);

  const manifest = await readExportManifest(out);
  await checkManifestFiles(out, manifest);
  assert.equal(manifest.stage, 'baseline');
  assert.equal(manifest.debias.active, false);
  assert.match(manifest.debias.reason, /debiased_embedding = embedding/);
  assert.equal(manifest.models.imageHead, undefined);
  assert.deepEqual(Object.keys(manifest.files).sort(), ['image_encoder.onnx', 'labels.json', 'recipe_encoder.onnx', 'vocab.pkl']);
  assert.equal(manifest.source.epoch, 100);
  assert.deepEqual(manifest.source.metrics, { best_recall1: 0.6059 });
  assert.equal(manifest.config.recipe.width, 80);
  const labelNames = JSON.parse(await readFile(path.join(out, 'labels.json'), 'utf8')) as { labels: string[] };
  assert.equal(labelNames.labels[1], 'ingredient 7');
});

test('stage 2 with the dictionary: embedding, logits, debiased embedding and recipe embedding match', async () => {
  const out = path.join(tmp, 'models', 'seed-stage2');
  const summary = await importSeedCheckpoint({ checkpoint: golden('stage2.pth.tar'), dictionary: golden('ingredient_dict_textual.pkl'), vocab, labels, outDir: out });
  assert.equal(summary.debiasActive, true);
  const got = await runImported(out);
  const pure = await float32('stage2/img_emb_pure.bin');
  const debiased = await float32('stage2/img_emb_debiased.bin');
  const errors = {
    embedding: assertClose(got.embedding, pure, 'stage2 embedding'),
    logits: assertClose(got.logits, await float32('stage2/logits.bin'), 'stage2 logits'),
    debiased: assertClose(got.debiased, debiased, 'stage2 debiased embedding'),
    recipe: assertClose(got.recipe, await float32('stage2/recipe_emb.bin'), 'stage2 recipe embedding'),
  };
  process.stderr.write(`stage2 relative errors: ${JSON.stringify(errors)}\n`);
  // The debiasing term is large for images 0-2 and exactly zero for image 3 (no label kept).
  assert.ok(relativeError(got.debiased, got.embedding).relError > 0.3);
  assert.deepEqual(got.debiased.subarray(3 * 96), got.embedding.subarray(3 * 96));

  const manifest = await readExportManifest(out);
  await checkManifestFiles(out, manifest);
  assert.equal(manifest.stage, 'debias');
  assert.equal(manifest.debias.active, true);
  assert.match(manifest.debias.dictionarySha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(manifest.source.epoch, 56);
  assert.match(manifest.preprocessing.image.normalisation, /torchvision ImageNet/);
});

test('intermediates: the torchvision trunk alone and V = Wv(D) match the seed', async () => {
  for (const stage of ['stage1', 'stage2']) {
    const c = TorchCheckpoint.open(golden(`${stage}.pth.tar`));
    try {
      const { stateDict } = findStateDict(c.root, c.file);
      const tensors = new CheckpointTensors(c, stateDict, 'module.');
      const trunk = buildTorchvisionTrunkModel((name) => tensors.get(`${BACKBONE_PREFIX}.${name}`)!, 4);
      const session = await ort.InferenceSession.create(trunk);
      const crops = new Uint8Array(await bytesOf(golden('inputs/images_uint8_hwc.bin')));
      const o = await session.run({ image: new ort.Tensor('uint8', crops, [4, 224, 224, 3]) });
      assert.deepEqual(o.feature_map.dims, [4, 128, 7, 7]);
      const err = assertClose(o.feature_map.data as Float32Array, await float32(`${stage}/intermediate/backbone_out.bin`), `${stage} backbone`);
      process.stderr.write(`${stage} backbone relative error: ${err}\n`);
      await session.release();
      if (stage === 'stage2') {
        const d = await readIngredientDictionary(golden('ingredient_dict_textual.pkl'), 20, 80);
        const v = projectDictionary(d.matrix, tensors.get('Wv.weight')!, tensors.get('Wv.bias')!);
        assertClose(v.data, await float32('stage2/intermediate/dict_proj_V.bin'), 'V');
      }
    } finally {
      c.close();
    }
  }
});

test('streamed ONNX writing gives the bytes ModelProto.encode gives', () => {
  const c = TorchCheckpoint.open(golden('stage1.pth.tar'));
  try {
    const { stateDict } = findStateDict(c.root, c.file);
    const plan = planSeedImport(new Map([...stateDict].map(([k, t]) => [k, { shape: t.shape, dtype: t.dtype }])), { source: c.file });
    const params = new ExportParams(new CheckpointTensors(c, stateDict, plan.prefix), c.file);
    const model = seedImageEncoderModel(params, plan.config, plan.stemWidth, { metadata: { model_id: 'x' } });
    const streamed = Buffer.concat(modelPieces(model));
    const encoded = onnx.ModelProto.encode(model).finish();
    assert.ok(streamed.length > 2_000_000);
    assert.ok(streamed.equals(Buffer.from(encoded)), 'streamed bytes differ from ModelProto.encode');
  } finally {
    c.close();
  }
});

test('the CLI imports, and refuses a stage-2 checkpoint without --dictionary', () => {
  const out = path.join(tmp, 'models', 'cli');
  const refused = runCli(['import-checkpoint', golden('stage2.pth.tar'), '--vocab', vocab, '--labels', labels, '--out', out]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /--dictionary <ingredient_dict_textual\.pkl> is required/);
  const ok = runCli(['import-checkpoint', golden('stage2.pth.tar'), '--vocab', vocab, '--labels', labels, '--dictionary', golden('ingredient_dict_textual.pkl'), '--out', out, '--id', 'paper-small', '--json']);
  assert.equal(ok.status, 0, ok.stderr);
  const data = JSON.parse(ok.stdout) as { modelId: string; debiasActive: boolean; config: { classifier: { heads: number } } };
  assert.equal(data.modelId, 'paper-small');
  assert.equal(data.debiasActive, true);
  assert.equal(data.config.classifier.heads, 4);
});
