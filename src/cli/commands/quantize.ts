import { SPLITS } from '../../data/recipe.js';
import { INT8_IMAGE_ENCODER_FILE, quantizeModel } from '../../quantize/quantize-model.js';
import { FlagError, intFlag, splitFlag, stringFlag, type Command } from '../command.js';

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
Then: serve --precision int8, evaluate --precision int8.

  --model DIR        exported model folder with image_encoder.onnx (required)
  --split S          ${SPLITS.join(', ')}: calibration photos (default train: not the photos evaluated)
  --photos N         at most N calibration photos, the split's first (default 100)
  --method M         minmax | mean-minmax: activation ranges (default minmax)`,
  options: {
    model: { type: 'string' },
    split: { type: 'string' },
    photos: { type: 'string' },
    method: { type: 'string' },
  },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const modelDir = stringFlag(args, 'model');
    if (!modelDir) throw new FlagError('--model is required (an exported model folder, e.g. models/<id>)');
    const method = stringFlag(args, 'method') ?? 'minmax';
    if (method !== 'minmax' && method !== 'mean-minmax') throw new FlagError(`--method must be minmax or mean-minmax, got "${method}"`);
    const record = await quantizeModel({
      modelDir,
      datasetRoot: args.positionals[0],
      split: splitFlag(args, 'train'),
      maxPhotos: intFlag(args, 'photos', 100, 1, 100_000),
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
