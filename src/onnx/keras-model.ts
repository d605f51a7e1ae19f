import path from 'node:path';
import { readLayersModelDir } from '../backbone/weights-io.js';
import { DataFileError } from '../util/errors.js';
import type { Tensor32 } from './weights.js';

/** One layer of a Keras functional model as model.json stores it. */
export interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** Per call of the layer: the tensors it consumed, as [layerName, nodeIndex, tensorIndex, kwargs]. */
  inbound_nodes: [string, number, number, unknown?][][];
}

/** A Keras functional model read straight from a TF.js layers-model folder (no TF.js involved). */
export interface KerasModel {
  /** model.json, named in error messages. */
  file: string;
  layers: KerasLayer[];
  inputLayers: string[];
  outputLayers: string[];
  /** Weights by their manifest name, e.g. "conv1/kernel" (Keras layouts, float32). */
  weights: Map<string, Tensor32>;
  /** sha256 of model.json and its shards: identifies the weights exactly. */
  sha256: string;
}

interface ModelConfig {
  class_name?: string;
  config?: { layers?: KerasLayer[]; input_layers?: [string, number, number][]; output_layers?: [string, number, number][] };
}

export async function readKerasModel(dir: string): Promise<KerasModel> {
  const file = path.join(dir, 'model.json');
  const { artifacts, sha256 } = await readLayersModelDir(dir);
  const topology = artifacts.modelTopology as { model_config?: ModelConfig } & ModelConfig;
  const modelConfig = topology.model_config ?? topology;
  const cfg = modelConfig.config;
  if (modelConfig.class_name !== 'Model' && modelConfig.class_name !== 'Functional') {
    throw new DataFileError(file, `a Keras functional model is needed, found ${modelConfig.class_name ?? 'no class_name'}`);
  }
  if (!cfg?.layers || !cfg.input_layers || !cfg.output_layers) throw new DataFileError(file, 'model_config lacks layers, input_layers or output_layers');
  return {
    file,
    layers: cfg.layers,
    inputLayers: cfg.input_layers.map(([name]) => name),
    outputLayers: cfg.output_layers.map(([name]) => name),
    weights: decodeWeights(file, artifacts.weightSpecs ?? [], artifacts.weightData as ArrayBuffer),
    sha256,
  };
}

/** Split the concatenated shard bytes into named float32 tensors (views, no copy). */
function decodeWeights(
  file: string,
  specs: { name: string; shape: number[]; dtype: string; quantization?: unknown }[],
  buffer: ArrayBuffer,
): Map<string, Tensor32> {
  const weights = new Map<string, Tensor32>();
  let offset = 0;
  for (const spec of specs) {
    if (spec.dtype !== 'float32' || spec.quantization) {
      throw new DataFileError(file, `weight ${spec.name} is ${spec.quantization ? 'quantised' : spec.dtype}; only plain float32 is supported`);
    }
    const count = spec.shape.reduce((a, b) => a * b, 1);
    // Shards are a byte stream; a float32 view needs 4-byte alignment, which float32-only manifests keep.
    weights.set(spec.name, { data: new Float32Array(buffer, offset, count), dims: spec.shape });
    offset += count * 4;
  }
  return weights;
}
