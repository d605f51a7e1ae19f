/**
 * Exported encoders' latency: onnxruntime-node (CPU EP) against the TF.js model (wasm) computing
 * the same outputs, in the same process, at batch 1 and 16; writes bench-results/export.json.
 * Usage: node dist/scripts/bench-export.js [--model DIR --run DIR] [--runs N]
 * Without --model, a cpu-preset model with random weights is exported to a temporary folder
 * (latency does not depend on the weights' values). Image encoder = ResNet-50 + head from uint8
 * crops (TF.js: caffe normalisation in JS + backbone + head); recipe encoder = padded id batches.
 */
import os from 'node:os';
import path from 'node:path';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../src/backbone/resnet50.js';
import { toCaffeNhwcBatch } from '../src/data/images/index.js';
import { batchRecipes } from '../src/data/text/batch.js';
import { loadVocabulary } from '../src/data/text/vocabulary.js';
import { exportModel } from '../src/export/export-model.js';
import { readExportManifest } from '../src/model-format/manifest.js';
import { debiasSetup, paramStoreOf } from '../src/export/model-weights.js';
import { openSession, runImageEncoder, runRecipeEncoder } from '../src/export/onnx-run.js';
import { relativeError } from '../src/export/parity.js';
import { TfReference } from '../src/export/tfjs-reference.js';
import { disposeTrainedModel, loadTrainedModel } from '../src/export/trained-model.js';
import { fillTo, imageBatch, loadSplitInputs, randomRecipes } from '../src/export/verify-cases.js';
import { presetConfig } from '../src/model/config.js';
import { modelParamSpecs } from '../src/model/param-spec.js';
import { ParamStore } from '../src/model/param-store.js';
import { saveCheckpoint } from '../src/model-format/checkpoint.js';
import { selectBackend } from '../src/tf/backend.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';
import { medianMs, round } from './bench-timing.js';

const BATCHES = [1, 16];

/** A cpu-preset run (demo vocabulary and labels, random weights, a dictionary) in `dir`. */
async function randomCpuRun(dir: string): Promise<void> {
  const vocabFile = fromRoot('models', 'recipe1m-vocab', 'vocab.pkl');
  const vocab = await loadVocabulary(vocabFile);
  const labels = Array.from({ length: 100 }, (_, i) => `label${i}`);
  const config = presetConfig('cpu', { vocabSize: vocab.size, labels: labels.length });
  const store = ParamStore.initialise(modelParamSpecs(config, { debias: true }), 1);
  await saveCheckpoint(path.join(dir, 'best'), { params: store.toNamedTensors() }, { stage: 'debias', config, labelNames: labels });
  store.dispose();
  const d = tf.randomNormal([labels.length, config.recipe.width], 0, 1, 'float32', 1);
  await saveCheckpoint(path.join(dir, 'dictionary'), { dictionary: new Map([['D', d]]) }, {});
  d.dispose();
  await copyFile(vocabFile, path.join(dir, 'vocab.pkl'));
  await writeFile(path.join(dir, 'labels.json'), JSON.stringify({ labels }));
  await writeFile(path.join(dir, 'run.json'), JSON.stringify({ stage: 'debias', preset: 'cpu', config }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' }, run: { type: 'string' }, runs: { type: 'string', default: '3' } } });
  const runs = Math.max(1, Number(values.runs));
  const backend = await selectBackend('wasm');
  let tmp: string | undefined;
  let modelDir = values.model;
  let runDir = values.run;
  if (!modelDir || !runDir) {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bench-export-'));
    runDir = path.join(tmp, 'run');
    modelDir = path.join(tmp, 'model');
    await randomCpuRun(runDir);
    await exportModel({ runDir, outDir: modelDir, image: 'full', backboneCheck: false });
  }
  const manifest = await readExportManifest(modelDir);
  if (!manifest.models.imageEncoder) throw new Error(`${modelDir} has no image_encoder.onnx`);
  const model = await loadTrainedModel(runDir);
  const store = paramStoreOf(model);
  const debias = debiasSetup(model, store);
  const reference = new TfReference(store, model.config, debias.active ? model.dictionary : undefined);
  const backbone = await loadBackbone();
  const vocab = await loadVocabulary(path.join(modelDir, 'vocab.pkl'));
  const demo = await loadSplitInputs(fromRoot('index-data', 'demo'), 'test', vocab, { photos: Math.max(...BATCHES) });

  const imageSession = await openSession(path.join(modelDir, manifest.models.imageEncoder.file));
  const recipeSession = await openSession(path.join(modelDir, manifest.models.recipeEncoder.file));
  const results = [];
  for (const n of BATCHES) {
    const crops = imageBatch(demo.crops, n, 1);
    let onnxOut: Float32Array = new Float32Array();
    const onnxImageMs = await medianMs(runs, async () => {
      onnxOut = (await runImageEncoder(imageSession, crops)).debiased;
    });
    let tfOut: Float32Array = new Float32Array();
    const tfjsImageMs = await medianMs(runs, async () => {
      const x = tf.tensor4d(toCaffeNhwcBatch(crops), [n, 224, 224, 3]);
      const maps = backbone.featureMaps(x);
      tfOut = reference.imageHead((await maps.data()) as Float32Array, n).debiased;
      tf.dispose([x, maps]);
    });
    const recipes = batchRecipes(fillTo(demo.recipes, randomRecipes(n, vocab.size, 2), n));
    let onnxRecipe: Float32Array = new Float32Array();
    const onnxRecipeMs = await medianMs(runs * 3, async () => {
      onnxRecipe = await runRecipeEncoder(recipeSession, recipes);
    });
    let tfRecipe: Float32Array = new Float32Array();
    const tfjsRecipeMs = await medianMs(runs * 3, async () => {
      tfRecipe = reference.recipes(recipes);
    });
    for (const [encoder, onnxMs, tfjsMs, a, b] of [
      ['image_encoder', onnxImageMs, tfjsImageMs, onnxOut, tfOut],
      ['recipe_encoder', onnxRecipeMs, tfjsRecipeMs, onnxRecipe, tfRecipe],
    ] as const) {
      const row = {
        encoder, batch: n, onnxMs: round(onnxMs), tfjsWasmMs: round(tfjsMs), tfjsOverOnnx: round(tfjsMs / onnxMs, 2),
        maxRelativeDifference: Number(relativeError(a, b).relError.toExponential(2)),
      };
      console.error(JSON.stringify(row));
      results.push(row);
    }
  }
  const out = {
    what: 'exported encoders: onnxruntime-node (CPU EP) vs the TF.js model (wasm), same inputs, same process',
    model: { dir: tmp ? 'random-weight cpu-preset model (temporary)' : modelDir, preset: manifest.preset, embeddingDim: manifest.embeddingDim, debias: manifest.debias.active },
    inputs: 'image: demo test photos (centre crops), then mirrored; recipe: demo test recipes encoded with the model vocabulary, padded to the batch maximum',
    statistic: `median ms per batch over ${runs} (image) / ${runs * 3} (recipe) calls after one warm-up call`,
    results,
    machine: {
      cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version,
      onnxruntime: ort.env.versions.node, tfjs: tf.version.tfjs, tfjsBackend: backend.tfBackend,
    },
    measuredAt: new Date().toISOString(),
  };
  const file = fromRoot('bench-results', 'export.json');
  await writeFileAtomic(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${file}`);
  await imageSession.release();
  await recipeSession.release();
  store.dispose();
  disposeTrainedModel(model);
  if (tmp) await rm(tmp, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
