import * as tf from '@tensorflow/tfjs';
import { modelParamSpecs } from '../model/param-spec.js';
import { ParamStore, type ParamReader } from '../model/param-store.js';
import { projectDictionary } from '../model/debias.js';
import type { Tensor32 } from '../onnx/weights.js';
import { UserError } from '../util/errors.js';
import { ExportParams, isTrainingOnlyParam } from './export-params.js';
import type { TrainedModel } from './trained-model.js';

/** Whether the exported image side debiases, and with which constant V = Wv(D) [K, E]. */
export interface DebiasSetup {
  active: boolean;
  /** Why (not): shown in the manifest. */
  reason: string;
  projectedDictionary?: Tensor32;
}

export function hasDebiasProjection(model: TrainedModel): boolean {
  return model.params.has('Wv.weight');
}

/** The run's parameters as a TF.js ParamStore (the reference model; also computes V). */
export function paramStoreOf(model: TrainedModel): ParamStore {
  const specs = modelParamSpecs(model.config, { debias: hasDebiasProjection(model) });
  return ParamStore.fromNamedTensors(specs, model.params, model.checkpointDir);
}

export function debiasSetup(model: TrainedModel, params: ParamReader): DebiasSetup {
  if (!hasDebiasProjection(model)) {
    return {
      active: false,
      reason: model.dictionary
        ? 'the model has no Wv projection (a stage-1 model): its dictionary is not used; debiased_embedding = embedding'
        : 'stage-1 model without Wv and dictionary: debiased_embedding = embedding',
    };
  }
  if (!model.dictionary) {
    throw new UserError(`cannot export ${model.runDir}: it has the debiasing projection Wv but no ingredient dictionary (expected ${model.runDir}/dictionary/)`);
  }
  const [k, width] = model.dictionary.shape;
  if (k !== model.config.classifier.labels || width !== model.config.recipe.width) {
    throw new UserError(`${model.runDir}/dictionary: shape [${k},${width}], the model needs [${model.config.classifier.labels},${model.config.recipe.width}]`);
  }
  // V computed by the TF.js model itself, so the constant is exactly what the reference adds.
  const v = tf.tidy(() => projectDictionary(params, model.dictionary!));
  const data = v.dataSync() as Float32Array;
  const dims = [...v.shape];
  v.dispose();
  return { active: true, reason: 'Wv and the ingredient dictionary are present: debiased_embedding = embedding + pi V', projectedDictionary: { data, dims } };
}

/**
 * The parameters as float32 arrays for the graph emitters, with training-only ones marked skipped.
 * `overrides` replaces values by name (verification's forced-logit variants).
 */
export function exportParamsOf(model: TrainedModel, overrides: ReadonlyMap<string, Tensor32> = new Map()): ExportParams {
  const tensors = new Map<string, Tensor32>();
  for (const [name, t] of model.params) {
    tensors.set(name, overrides.get(name) ?? { data: t.dataSync() as Float32Array, dims: [...t.shape] });
  }
  const params = new ExportParams(tensors, model.checkpointDir);
  params.skip(isTrainingOnlyParam);
  // Wv is folded into the constant V rather than emitted as a layer.
  params.skip((name) => name.startsWith('Wv.'));
  return params;
}
