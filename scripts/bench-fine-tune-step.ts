/**
 * Time fine-tuning steps (trunk layer2-4 + heads, seed objective) on a TF.js backend with random
 * inputs: `node dist/scripts/bench-fine-tune-step.js [small|full] [batch] [steps=2] [backend=cpu]`.
 * small = the seed goldens' configuration (stem 4, from test/fixtures/seed-goldens/small/stage1.pth.tar);
 * full = ResNet-50 (stem 64) with the paper preset's heads (16,303 words, 500 labels).
 * Recipes have 20 lines of 15 tokens. Prints wall and CPU seconds per step and per image.
 */
import * as tf from '@tensorflow/tfjs';
import { presetConfig } from '../src/model/config.js';
import { selectBackend, isBackendRequest } from '../src/tf/backend.js';
import { AdamW } from '../src/train/adamw.js';
import { SEED_ASL } from '../src/train/losses.js';
import { fineTuneStep } from '../src/train/fine-tune/fine-tune-step.js';
import { initialFineTuneModel, loadSeedCheckpointModel } from '../src/train/fine-tune/fine-tune-model.js';
import { fromRoot } from '../src/util/paths.js';

const [which = 'small', batchArg = '4', stepsArg = '2', backendArg = 'cpu'] = process.argv.slice(2);
if (!isBackendRequest(backendArg)) throw new Error(`unknown backend ${backendArg}`);
await selectBackend(backendArg, () => {});
const batch = Number(batchArg);
const model = which === 'full'
  ? initialFineTuneModel(presetConfig('paper', { vocabSize: 16303, labels: 500 }), 64, false, 1)
  : loadSeedCheckpointModel(fromRoot('test/fixtures/seed-goldens/small/stage1.pth.tar'), { dropout: 0.1 }).model;
const cfg = model.config;
const images = tf.randomNormal([batch, 224, 224, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const ids = (shape: number[]): tf.Tensor => tf.randomUniform(shape, 3, cfg.vocabSize - 1, 'int32', 2);
const recipe = { title: ids([batch, 20]) as tf.Tensor2D, ingredients: ids([batch, 20, 15]) as tf.Tensor3D, instructions: ids([batch, 20, 15]) as tf.Tensor3D };
const targets = tf.cast(tf.greater(tf.randomUniform([batch, cfg.classifier.labels], 0, 1, 'float32', 3), 0.9), 'float32') as tf.Tensor2D;
const optimizer = new AdamW();
for (let i = 0; i < Number(stepsArg); i++) {
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  fineTuneStep(model, optimizer, { images, recipe, targets }, { classificationWeight: 0, retrievalWeight: 1, margin: 0.3, asl: SEED_ASL }, { dropoutSeed: `b${i}` });
  const wall = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  console.log(`${which} batch ${batch} step ${i + 1} (${tf.getBackend()}): ${wall.toFixed(2)} s wall = ${(wall / batch).toFixed(2)} s/image; ${cpu.toFixed(2)} s CPU = ${(cpu / batch).toFixed(2)} s/image`);
}
