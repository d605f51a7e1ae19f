import { pyOrderedDict, type PyValue } from '../../data/pickle/python-pickler.js';
import { POSITION_BUFFER } from '../../import/seed-state-dict.js';
import { TorchCheckpointWriter } from '../../import/torch-zip-writer.js';
import { sinePositionValues } from '../../model/sine-position.js';
import type { FineTuneModel } from './fine-tune-model.js';

const FEATURE_MAP_SIZE = 7;

/**
 * Save a fine-tuned model as the seed's training scripts save theirs: torch.save zip of
 * {epoch, arch, state_dict} with `module.` keys (trunk weights and BatchNorm buffers, the sine
 * position buffer, the heads), so `import-checkpoint` / `export` turn it into the ONNX model
 * folder and the seed's own code could load it.
 */
export function writeSeedCheckpoint(file: string, model: FineTuneModel, epoch: number): { bytes: number } {
  const w = new TorchCheckpointWriter(file, { folder: 'checkpoint' });
  const items: Array<[PyValue, PyValue]> = [];
  const add = (name: string, values: Float32Array | BigInt64Array, shape: readonly number[]): void => {
    items.push([`module.${name}`, w.tensorOf(values, shape)]);
  };
  const trunkLayers = new Map(model.batchNorm.layers.map((l) => [l.name, l]));
  for (const name of model.params.names()) {
    const v = model.params.get(name);
    add(name, v.dataSync() as Float32Array, v.shape);
    const layer = name.endsWith('.bias') ? trunkLayers.get(name.slice(0, -'.bias'.length)) : undefined;
    if (layer) {
      // torchvision's state-dict order: weight, bias, running_mean, running_var, num_batches_tracked.
      add(`${layer.name}.running_mean`, model.batchNorm.runningMean.get(layer.name)!.dataSync() as Float32Array, [layer.channels]);
      add(`${layer.name}.running_var`, model.batchNorm.runningVar.get(layer.name)!.dataSync() as Float32Array, [layer.channels]);
      add(`${layer.name}.num_batches_tracked`, BigInt64Array.of(model.batchNorm.batchesTracked.get(layer.name)!), []);
    }
  }
  // query2labels' position buffer [1, C, 7, 7] (our sine map is [49, C]).
  const c = model.config.classifier.width;
  const hw = FEATURE_MAP_SIZE * FEATURE_MAP_SIZE;
  const ours = sinePositionValues(FEATURE_MAP_SIZE, FEATURE_MAP_SIZE, c);
  const pe = new Float32Array(c * hw);
  for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) pe[ch * hw + p] = ours[p * c + ch];
  add(POSITION_BUFFER, pe, [1, c, FEATURE_MAP_SIZE, FEATURE_MAP_SIZE]);
  const root = new Map<PyValue, PyValue>([['epoch', epoch], ['arch', 'resnet50'], ['state_dict', pyOrderedDict(items)]]);
  return w.finish(root);
}
