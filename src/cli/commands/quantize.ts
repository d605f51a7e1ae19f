import { INT8_IMAGE_ENCODER_FILE, quantizeModel } from '../../quantize/quantize-model.js';
import type { Command } from '../command.js';
import { EXPORTED_MODEL_OPTION, splitOption } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const OPTIONS = defineOptions({
  model: { ...EXPORTED_MODEL_OPTION, description: 'exported model folder with image_encoder.onnx' },
  split: splitOption('train', 'calibration photos (not the photos evaluated)'),
  photos: { type: 'string', value: 'N', description: 'at most N calibration photos, the split\'s first', default: 100, min: 1, max: 100_000 },
  method: { type: 'string', value: 'M', description: 'activation ranges', choices: ['minmax', 'mean-minmax'], default: 'minmax' },
});

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'write an int8 image encoder (static QDQ, calibrated on a dataset\'s photos) next to the fp32 one',
  help: `Usage: recipe-retrieval quantize --model models/<id> <dataset-root> [options]

Static int8 quantization of the export's image_encoder.onnx, in QDQ form (onnxruntime fuses it
into QLinearConv/QLinearAdd kernels, VNNI where the CPU has it): uint8 activations with one scale
per tensor, calibrated on the first photos of a split (test transform, as served); int8 weights
with one scale per output channel; int32 biases. Every Conv and residual Add of the backbone is
quantized; the preprocessing, pooling and ingredient head stay float32.

Writes ${INT8_IMAGE_ENCODER_FILE} into the model folder and records it in manifest.json under
quantized.int8 (file sha256, source graph sha256, calibration split, photo count and the sha256 of
their names). The model's identity for indexes does not change: existing indexes stay valid.
Then: serve --precision int8, evaluate --precision int8.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const modelDir = flags.string('model');
    const method = flags.choice('method');
    const record = await quantizeModel({
      modelDir,
      datasetRoot: args.positionals[0],
      split: flags.choice('split'),
      maxPhotos: flags.int('photos'),
      method,
      log: ctx.log,
    });
    const text = [
      `wrote ${modelDir}/${record.file} (${(record.bytes / 1e6).toFixed(1)} MB, sha256 ${record.sha256.slice(0, 12)})`,
      `quantized ${record.nodes.convs} Conv and ${record.nodes.adds} Add nodes; calibrated on ${record.calibration.photos} ${record.calibration.split} photos (${record.calibration.method})`,
      `use it with: serve --precision int8, evaluate --precision int8`,
    ].join('\n');
    return { data: record, text };
  },
};
