/**
 * ResNet-50 backbone speed: the converted ONNX model in onnxruntime-node (CPU) against the TF.js
 * layers model on the wasm backend, same images, same run; writes bench-results/onnx-backbone.json.
 * Usage: node dist/scripts/bench-onnx-backbone.js [--runs N]
 * The feature maps of both are compared too, so the two sides provably computed the same thing.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../src/backbone/resnet50.js';
import { loadTestCrop, toCaffeNhwcBatch, type RgbImage } from '../src/data/images/index.js';
import { BACKBONE_INPUT, BACKBONE_OUTPUT, buildResNet50Model, loadKerasResNet50 } from '../src/onnx/keras-resnet.js';
import { selectBackend } from '../src/tf/backend.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';
import { medianMs, round } from './bench-timing.js';

const PHOTOS = [
  fromRoot('test', 'fixtures', 'images', 'coffee.png'),
  fromRoot('index-data', 'demo', 'images', 'test', '3', '2', '4', '3', '32430264e2.jpg'),
  fromRoot('index-data', 'demo', 'images', 'test', 'b', '8', '3', 'c', 'b83c60327e.jpg'),
  fromRoot('index-data', 'demo', 'images', 'test', '3', 'c', 'e', '9', '3ce948e9df.jpg'),
];
const BATCHES = [1, 8];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
  const runs = Math.max(1, Number(values.runs));
  const crops = await Promise.all(PHOTOS.map((p) => loadTestCrop(p)));
  const batchOf = (n: number): RgbImage[] => Array.from({ length: n }, (_, i) => crops[i % crops.length]);

  const convertStart = performance.now();
  const model = buildResNet50Model(await loadKerasResNet50());
  const convertMs = performance.now() - convertStart;
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });

  const backend = await selectBackend('wasm');
  const reference = await loadBackbone();

  const results = [];
  for (const n of BATCHES) {
    const images = batchOf(n);
    const uint8 = new Uint8Array(n * 224 * 224 * 3);
    images.forEach((im, i) => uint8.set(im.data, i * im.data.length));
    const feeds = { [BACKBONE_INPUT]: new ort.Tensor('uint8', uint8, [n, 224, 224, 3]) };
    let onnxMaps: Float32Array = new Float32Array();
    const onnxMs = await medianMs(runs, async () => {
      onnxMaps = (await session.run(feeds))[BACKBONE_OUTPUT].data as Float32Array;
    });
    // TF.js gets the caffe-normalised float input built in JS (its preprocessing is outside the model),
    // timed with the forward pass so both sides start from the same uint8 crops.
    let tfMaps: Float32Array = new Float32Array();
    const tfjsMs = await medianMs(runs, async () => {
      const x = tf.tensor4d(toCaffeNhwcBatch(images), [n, 224, 224, 3]);
      const y = reference.featureMaps(x);
      tfMaps = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
    });
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < tfMaps.length; i++) {
      diff = Math.max(diff, Math.abs(onnxMaps[i] - tfMaps[i]));
      scale = Math.max(scale, Math.abs(tfMaps[i]));
    }
    const row = {
      batch: n,
      onnxMsPerImage: round(onnxMs / n),
      tfjsWasmMsPerImage: round(tfjsMs / n),
      tfjsOverOnnx: round(tfjsMs / onnxMs, 2),
      maxRelativeDifference: Number((diff / scale).toExponential(2)),
    };
    console.error(JSON.stringify(row));
    results.push(row);
  }

  const out = {
    what: 'Keras ImageNet ResNet-50 feature map [N,7,7,2048] from uint8 224x224 crops: ONNX (onnxruntime-node, CPU EP) vs TF.js wasm',
    runsPerPoint: runs,
    statistic: 'median ms per batch / batch size, after one warm-up call',
    conversionMs: round(convertMs),
    onnxModelBytes: model.length,
    results,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      onnxruntime: ort.env.versions.node,
      tfjs: tf.version.tfjs,
      tfjsBackend: backend.tfBackend,
    },
    measuredAt: new Date().toISOString(),
  };
  const file = fromRoot('bench-results', 'onnx-backbone.json');
  await writeFileAtomic(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${file}`);
  await session.release();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
