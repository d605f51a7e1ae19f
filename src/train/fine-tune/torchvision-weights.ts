import * as tf from '@tensorflow/tfjs';
import { findStateDict } from '../../import/checkpoint-tensors.js';
import { TorchCheckpoint } from '../../import/torch-checkpoint.js';
import { TRUNK_PREFIX } from '../../model/resnet-trunk.js';
import { DataFileError } from '../../util/errors.js';
import type { FineTuneModel } from './fine-tune-model.js';

/** torchvision's classifier, which the seed's trunk (an IntermediateLayerGetter up to layer4) drops. */
const CLASSIFIER_KEYS = new Set(['fc.weight', 'fc.bias']);

/**
 * Load torchvision's ImageNet ResNet weights (the file `pretrained=True` downloads, a bare
 * state_dict with keys conv1.weight, bn1.*, layer1..4.*, fc.*) into the fine-tuning model's trunk:
 * weights and BatchNorm buffers; fc is ignored. The stem width must match the model's.
 */
export function loadTorchvisionBackbone(file: string, model: FineTuneModel): { loaded: number; ignored: string[] } {
  const checkpoint = TorchCheckpoint.open(file);
  try {
    const { stateDict } = findStateDict(checkpoint.root, file);
    const keys = [...stateDict.keys()];
    const prefix = keys.length && keys.every((k) => k.startsWith('module.')) ? 'module.' : '';
    const wanted = new Map<string, { shape: readonly number[]; assign: (values: Float32Array | BigInt64Array) => void }>();
    for (const name of model.params.names()) {
      if (!name.startsWith(`${TRUNK_PREFIX}.`)) continue;
      const v = model.params.get(name);
      wanted.set(name.slice(TRUNK_PREFIX.length + 1), { shape: v.shape, assign: (values) => assignFrom(v, tensorOf(values, v.shape, file, name)) });
    }
    for (const layer of model.batchNorm.layers) {
      const local = layer.name.slice(TRUNK_PREFIX.length + 1);
      const mean = model.batchNorm.runningMean.get(layer.name)!;
      const variance = model.batchNorm.runningVar.get(layer.name)!;
      wanted.set(`${local}.running_mean`, { shape: mean.shape, assign: (values) => assignFrom(mean, tensorOf(values, mean.shape, file, local)) });
      wanted.set(`${local}.running_var`, { shape: variance.shape, assign: (values) => assignFrom(variance, tensorOf(values, variance.shape, file, local)) });
      // Old torchvision files predate num_batches_tracked; it is optional (momentum 0.1 does not use it).
      wanted.set(`${local}.num_batches_tracked`, { shape: [], assign: (values) => model.batchNorm.batchesTracked.set(layer.name, (values as BigInt64Array)[0]) });
    }
    const stem = stateDict.get(`${prefix}conv1.weight`);
    if (!stem) throw new DataFileError(file, 'has no conv1.weight: not a torchvision ResNet state_dict');
    if (stem.shape[0] !== model.stemWidth) {
      throw new DataFileError(file, `is a ResNet with a ${stem.shape[0]}-channel stem; the model's trunk has ${model.stemWidth} (ResNet-50: 64)`);
    }
    const missing: string[] = [];
    const misshaped: string[] = [];
    let loaded = 0;
    for (const [key, target] of wanted) {
      const ref = stateDict.get(prefix + key);
      if (!ref) {
        if (!key.endsWith('num_batches_tracked')) missing.push(key);
        continue;
      }
      if (ref.shape.length !== target.shape.length || ref.shape.some((d, i) => d !== target.shape[i])) {
        misshaped.push(`${key} is [${ref.shape}], expected [${target.shape}]`);
        continue;
      }
      target.assign(checkpoint.read(ref));
      loaded++;
    }
    const unexpected = keys.map((k) => k.slice(prefix.length)).filter((k) => !wanted.has(k) && !CLASSIFIER_KEYS.has(k));
    const problems = [
      missing.length ? `missing ${missing.length} key(s): ${missing.slice(0, 5).join(', ')}` : '',
      misshaped.length ? `mis-shaped: ${misshaped.slice(0, 3).join('; ')}` : '',
      unexpected.length ? `unexpected ${unexpected.length} key(s): ${unexpected.slice(0, 5).join(', ')}` : '',
    ].filter(Boolean);
    if (problems.length) throw new DataFileError(file, `is not a torchvision ResNet-50 state_dict matching the model: ${problems.join('; ')}`);
    return { loaded, ignored: keys.filter((k) => CLASSIFIER_KEYS.has(k.slice(prefix.length))) };
  } finally {
    checkpoint.close();
  }
}

function tensorOf(values: Float32Array | BigInt64Array, shape: readonly number[], file: string, name: string): tf.Tensor {
  if (!(values instanceof Float32Array)) throw new DataFileError(file, `${name} is not float32`);
  return tf.tensor(values, [...shape], 'float32');
}

function assignFrom(target: tf.Variable, value: tf.Tensor): void {
  target.assign(value);
  value.dispose();
}
