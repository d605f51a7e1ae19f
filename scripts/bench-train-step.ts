/**
 * Time training steps of a model preset on the wasm backend with random inputs shaped like the
 * demo data: `node dist/scripts/bench-train-step.js [preset=cpu] [batch=32] [labels=500] [steps=3]`.
 * Prints one line per step for stage 1 (no classifier) and stage 2 (classifier + debiasing).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { presetConfig } from '../src/model/config.js';
import { modelParamSpecs } from '../src/model/param-spec.js';
import { ParamStore } from '../src/model/param-store.js';
import { forward, type ModelBatch } from '../src/model/forward.js';
import { LabelledRandom } from '../src/util/labelled-random.js';
import { trainingLoss } from '../src/train/losses.js';
import { AdamW } from '../src/train/adamw.js';
import { registerWasmKernels } from '../src/tf/wasm-kernels.js';

const [preset = 'cpu', batchArg = '32', labelsArg = '500', stepsArg = '3'] = process.argv.slice(2);
const batchSize = Number(batchArg);
const labels = Number(labelsArg);
const vocabSize = 16303;
registerWasmKernels();
await tf.setBackend('wasm');
const config = presetConfig(preset, { vocabSize, labels });
const rng = new LabelledRandom(1);

/** Rows of `width` slots with `len()` real ids each; lines beyond `lines()` per recipe stay empty. */
function tokens(shape: number[], len: () => number, lines: () => number): tf.Tensor {
  const [n, l, w] = shape.length === 3 ? shape : [shape[0], 1, shape[1]];
  const values = new Int32Array(n * l * w);
  for (let b = 0; b < n; b++) {
    const used = Math.min(l, lines());
    for (let li = 0; li < used; li++) {
      const count = Math.min(w, len());
      for (let t = 0; t < count; t++) values[(b * l + li) * w + t] = 1 + Math.floor(rng.uniform() * (vocabSize - 1));
    }
  }
  return tf.tensor(values, shape, 'int32');
}

// Demo-like: ~8 ingredient lines of ~6 ids, ~8 instruction lines cut at 15 ids, titles of ~5 ids,
// padded to the batch maxima (about 18-20 lines, 15 ids).
const batch: ModelBatch = {
  imageFeatures: tf.randomNormal([batchSize, 7, 7, config.backboneChannels], 0, 1, 'float32', 1) as tf.Tensor4D,
  recipe: {
    title: tokens([batchSize, 11], () => 3 + Math.floor(rng.uniform() * 6), () => 1) as tf.Tensor2D,
    ingredients: tokens([batchSize, 18, 15], () => 4 + Math.floor(rng.uniform() * 5), () => 4 + Math.floor(rng.uniform() * 9)) as tf.Tensor3D,
    instructions: tokens([batchSize, 20, 15], () => 15, () => 4 + Math.floor(rng.uniform() * 9)) as tf.Tensor3D,
  },
};
const targets = tf.cast(tf.less(tf.randomUniform([batchSize, labels], 0, 1, 'float32', 2), 0.02), 'float32') as tf.Tensor2D;
const dictionary = tf.randomNormal([labels, config.recipe.width], 0, 1, 'float32', 3) as tf.Tensor2D;

for (const stage of [1, 2]) {
  const params = ParamStore.initialise(modelParamSpecs(config, { debias: stage === 2 }), 1);
  const optimizer = new AdamW();
  for (let step = 0; step < Number(stepsArg); step++) {
    const start = performance.now();
    const { value, grads } = params.valueAndGrads(() => trainingLoss(
      forward(params, config, batch, { training: true, dictionary: stage === 2 ? dictionary : undefined }),
      { targets, classificationWeight: stage === 2 ? 0.001 : 0 },
    ).total);
    optimizer.step(params, grads);
    const loss = value.dataSync()[0];
    value.dispose();
    for (const g of grads.values()) g.dispose();
    const heapMb = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 1e6;
    console.log(`${preset} stage ${stage} batch ${batchSize} step ${step}: ${(performance.now() - start).toFixed(0)} ms, loss ${loss.toFixed(4)}, wasm heap ${heapMb.toFixed(0)} MB, live ${(tf.memory().numBytes / 1e6).toFixed(0)} MB in ${tf.memory().numTensors} tensors`);
  }
  optimizer.dispose();
  params.dispose();
}
