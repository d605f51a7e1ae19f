import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../../model/config.js';
import { modelParamSpecs } from '../../model/param-spec.js';
import { ParamStore } from '../../model/param-store.js';
import {
  BatchNormState, isFrozenTrunkParam, trunkBatchNormLayers, trunkParamSpecs, TRUNK_PREFIX,
} from '../../model/resnet-trunk.js';
import { findStateDict } from '../../import/checkpoint-tensors.js';
import { planSeedImport, SEED_DEFAULT_HEADS } from '../../import/seed-state-dict.js';
import { TorchCheckpoint } from '../../import/torch-checkpoint.js';
import { DataFileError } from '../../util/errors.js';

/**
 * The model that fine-tunes end to end: torchvision trunk + the HT heads in one ParamStore (seed
 * state-dict names), plus the trunk's BatchNorm buffers. `trainable` lists what the optimizer
 * steps, in the seed's named_parameters order (trunk layer2-4 first, then the heads).
 */
export interface FineTuneModel {
  config: ModelConfig;
  stemWidth: number;
  /** Stage 2: Wv is present and the forward debiases. */
  debias: boolean;
  params: ParamStore;
  batchNorm: BatchNormState;
  trainable: string[];
}

export interface SeedCheckpointInfo {
  epoch?: unknown;
  /** Entries of the checkpoint other than the state_dict (never read: the seed resumes weights only). */
  ignored: string[];
}

function trainableNames(params: ParamStore): string[] {
  return params.names().filter((n) => !isFrozenTrunkParam(n));
}

/**
 * A seed checkpoint (stage 1 or 2, as the training scripts save it) as a trainable model: every
 * size read off the tensor shapes, every key checked, BatchNorm running statistics and batch
 * counters included. As the seed does on resume, only the weights are loaded; the optimizer entry
 * is ignored.
 */
export function loadSeedCheckpointModel(
  file: string, opts: { dropout?: number; recipeHeads?: number; classifierHeads?: number } = {},
): { model: FineTuneModel; info: SeedCheckpointInfo } {
  const checkpoint = TorchCheckpoint.open(file);
  try {
    const { stateDict, ignored } = findStateDict(checkpoint.root, file);
    const plan = planSeedImport(new Map([...stateDict].map(([k, t]) => [k, { shape: t.shape, dtype: t.dtype }])), {
      source: file, recipeHeads: opts.recipeHeads ?? SEED_DEFAULT_HEADS, classifierHeads: opts.classifierHeads ?? SEED_DEFAULT_HEADS,
    });
    const config: ModelConfig = { ...plan.config, dropout: opts.dropout ?? plan.config.dropout };
    const read = (name: string): Float32Array | BigInt64Array => checkpoint.read(stateDict.get(plan.prefix + name)!);
    const specs = [...trunkParamSpecs(plan.stemWidth), ...modelParamSpecs(config, { debias: plan.debias })];
    const tensors = new Map<string, tf.Tensor>();
    for (const spec of specs) {
      const values = read(spec.name);
      if (!(values instanceof Float32Array)) throw new DataFileError(file, `${spec.name} is not a float32 tensor`);
      tensors.set(spec.name, tf.tensor(values, spec.shape, 'float32'));
    }
    const params = ParamStore.fromNamedTensors(specs, tensors, file);
    for (const t of tensors.values()) t.dispose();
    const batchNorm = new BatchNormState(trunkBatchNormLayers(plan.stemWidth), (layer) => {
      const mean = read(`${layer.name}.running_mean`);
      const variance = read(`${layer.name}.running_var`);
      const tracked = read(`${layer.name}.num_batches_tracked`);
      if (!(mean instanceof Float32Array) || !(variance instanceof Float32Array) || !(tracked instanceof BigInt64Array)) {
        throw new DataFileError(file, `BatchNorm buffers of ${layer.name} have unexpected dtypes`);
      }
      return { mean, variance, tracked: tracked[0] };
    });
    const root = checkpoint.root instanceof Map ? checkpoint.root : new Map();
    return {
      model: { config, stemWidth: plan.stemWidth, debias: plan.debias, params, batchNorm, trainable: trainableNames(params) },
      info: { epoch: root.get('epoch'), ignored },
    };
  } finally {
    checkpoint.close();
  }
}

/** A freshly initialised fine-tune model (torchvision init for the trunk, the seed's for the heads). */
export function initialFineTuneModel(config: ModelConfig, stemWidth: number, debias: boolean, seed: number): FineTuneModel {
  const params = ParamStore.initialise([...trunkParamSpecs(stemWidth), ...modelParamSpecs(config, { debias })], seed);
  return { config, stemWidth, debias, params, batchNorm: BatchNormState.fresh(stemWidth), trainable: trainableNames(params) };
}

export { TRUNK_PREFIX };
