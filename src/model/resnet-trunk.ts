import * as tf from '@tensorflow/tfjs';
import { resnet50Blocks, resnet50KeySpecs, type ResNetBlockShape } from './torchvision-resnet-keys.js';
import { conv2dFast } from './conv2d.js';
import type { ParamSpec } from './param-spec.js';
import type { ParamReader } from './param-store.js';

/**
 * torchvision's ResNet-50 trunk (v1.5: the stride sits on the 3x3 conv) as a trainable TF.js
 * function, with the seed's state-dict names under `backbone.0.body`. Activations are NHWC;
 * weights stay in PyTorch layout (conv [out, in, kh, kw]) so gradients and checkpoints compare
 * name for name with the seed's. The stem width sets every other width (64 for ResNet-50; the
 * seed goldens' small configuration uses 4).
 */

export const TRUNK_PREFIX = 'backbone.0.body';
/** torchvision BatchNorm2d defaults, which the seed keeps. */
export const BN_MOMENTUM = 0.1;
export const BN_EPS = 1e-5;

/** The seed freezes the stem and layer1 (requires_grad False); layer2-4 train. */
export const FROZEN_BLOCK_PREFIX = 'layer1.';

export interface BatchNormLayer {
  /** Module path, e.g. `backbone.0.body.layer2.0.bn1`. */
  name: string;
  channels: number;
  /** In the frozen stem/layer1: its weight and bias never train, its running statistics still update. */
  frozen: boolean;
}

/** Every BatchNorm2d of the trunk in module order. */
export function trunkBatchNormLayers(stemWidth: number): BatchNormLayer[] {
  const layers: BatchNormLayer[] = [{ name: `${TRUNK_PREFIX}.bn1`, channels: stemWidth, frozen: true }];
  for (const block of resnet50Blocks(stemWidth)) {
    const frozen = block.name.startsWith(FROZEN_BLOCK_PREFIX);
    const p = `${TRUNK_PREFIX}.${block.name}`;
    layers.push({ name: `${p}.bn1`, channels: block.planes, frozen }, { name: `${p}.bn2`, channels: block.planes, frozen },
      { name: `${p}.bn3`, channels: block.outChannels, frozen });
    if (block.downsample) layers.push({ name: `${p}.downsample.1`, channels: block.outChannels, frozen });
  }
  return layers;
}

/** Whether a trunk parameter is frozen (stem or layer1), as in the seed's training scripts. */
export function isFrozenTrunkParam(name: string): boolean {
  if (!name.startsWith(`${TRUNK_PREFIX}.`)) return false;
  const local = name.slice(TRUNK_PREFIX.length + 1);
  return !local.startsWith('layer') || local.startsWith(FROZEN_BLOCK_PREFIX);
}

/**
 * The trunk's learnable parameters (conv weights, BN weight and bias), state-dict order, with
 * torchvision's initialisation (kaiming normal, fan_out, for convs; BN 1 and 0).
 */
export function trunkParamSpecs(stemWidth: number): ParamSpec[] {
  return resnet50KeySpecs(TRUNK_PREFIX, stemWidth)
    .filter((k) => k.dtype === 'float32' && !k.name.endsWith('running_mean') && !k.name.endsWith('running_var'))
    .map((k): ParamSpec => {
      if (k.shape.length === 4) {
        const fanOut = k.shape[0] * k.shape[2] * k.shape[3];
        return { name: k.name, shape: k.shape, init: { kind: 'normal', std: Math.sqrt(2 / fanOut) } };
      }
      return { name: k.name, shape: k.shape, init: { kind: 'constant', value: k.name.endsWith('.weight') ? 1 : 0 } };
    });
}

/**
 * The BatchNorm buffers: running mean and variance (tf.Variables, not trained) and the int64 batch
 * counters (bigint: checkpoints carry values above 2^32).
 */
export class BatchNormState {
  readonly layers: BatchNormLayer[];
  readonly runningMean = new Map<string, tf.Variable>();
  readonly runningVar = new Map<string, tf.Variable>();
  readonly batchesTracked = new Map<string, bigint>();

  constructor(layers: BatchNormLayer[], init: (layer: BatchNormLayer) => { mean: Float32Array; variance: Float32Array; tracked: bigint }) {
    this.layers = layers;
    for (const layer of layers) {
      const { mean, variance, tracked } = init(layer);
      this.runningMean.set(layer.name, tf.variable(tf.tensor1d(mean), false));
      this.runningVar.set(layer.name, tf.variable(tf.tensor1d(variance), false));
      this.batchesTracked.set(layer.name, tracked);
    }
  }

  /** torchvision's fresh state: mean 0, variance 1, no batches. */
  static fresh(stemWidth: number): BatchNormState {
    return new BatchNormState(trunkBatchNormLayers(stemWidth), (l) => ({
      mean: new Float32Array(l.channels), variance: new Float32Array(l.channels).fill(1), tracked: 0n,
    }));
  }

  /** Apply the updates a training-mode forward collected (then disposes them). */
  apply(updates: readonly BatchNormUpdate[]): void {
    for (const u of updates) {
      this.runningMean.get(u.name)!.assign(u.mean);
      this.runningVar.get(u.name)!.assign(u.variance);
      this.batchesTracked.set(u.name, this.batchesTracked.get(u.name)! + 1n);
      u.mean.dispose();
      u.variance.dispose();
    }
  }

  dispose(): void {
    for (const v of [...this.runningMean.values(), ...this.runningVar.values()]) v.dispose();
  }
}

/** New running statistics of one layer, computed by a training-mode forward (kept tensors). */
export interface BatchNormUpdate {
  name: string;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

export interface TrunkMode {
  /** Batch statistics and running-statistic updates (model.train()) or running statistics (eval). */
  training: boolean;
  /** Where a training-mode forward puts the new running statistics (applied after the step). */
  updates?: BatchNormUpdate[];
}

function batchNorm(params: ParamReader, bn: BatchNormState, name: string, x: tf.Tensor4D, mode: TrunkMode): tf.Tensor4D {
  const gamma = params.get(`${name}.weight`);
  const beta = params.get(`${name}.bias`);
  if (!mode.training) {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(bn.runningVar.get(name)!, BN_EPS)));
    const shift = tf.sub(beta, tf.mul(bn.runningMean.get(name)!, scale));
    return tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  if (mode.updates) {
    // PyTorch: running = (1 - m) running + m batch, the variance unbiased (n / (n - 1)).
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
    mode.updates.push({
      name,
      mean: tf.keep(tf.add(tf.mul(bn.runningMean.get(name)!, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM))) as tf.Tensor1D,
      variance: tf.keep(tf.add(tf.mul(bn.runningVar.get(name)!, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM))) as tf.Tensor1D,
    });
  }
  const normalised = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, BN_EPS)));
  return tf.add(tf.mul(normalised, gamma), beta) as tf.Tensor4D;
}

/** A PyTorch conv (weight [out, in, k, k], symmetric zero padding, no bias) on NHWC input. */
function conv(params: ParamReader, name: string, x: tf.Tensor4D, stride: number, pad: number): tf.Tensor4D {
  const filter = tf.transpose(params.get(name), [2, 3, 1, 0]) as tf.Tensor4D;
  return conv2dFast(x, filter, stride, pad);
}

function bottleneck(params: ParamReader, bn: BatchNormState, block: ResNetBlockShape, x: tf.Tensor4D, mode: TrunkMode): tf.Tensor4D {
  const p = `${TRUNK_PREFIX}.${block.name}`;
  let out = tf.relu(batchNorm(params, bn, `${p}.bn1`, conv(params, `${p}.conv1.weight`, x, 1, 0), mode));
  out = tf.relu(batchNorm(params, bn, `${p}.bn2`, conv(params, `${p}.conv2.weight`, out, block.stride, 1), mode));
  out = batchNorm(params, bn, `${p}.bn3`, conv(params, `${p}.conv3.weight`, out, 1, 0), mode);
  const identity = block.downsample
    ? batchNorm(params, bn, `${p}.downsample.1`, conv(params, `${p}.downsample.0.weight`, x, block.stride, 0), mode)
    : x;
  return tf.relu(tf.add(out, identity)) as tf.Tensor4D;
}

/**
 * Stem + layer1 (the seed's frozen part): conv 7x7/2, BN, ReLU, max-pool 3x3/2 (padding 1), three
 * bottlenecks. Run it outside the gradient tape: nothing in it trains, so back-propagation stops
 * at layer2's input exactly as in the seed.
 */
export function trunkFrozenPart(params: ParamReader, bn: BatchNormState, stemWidth: number, images: tf.Tensor4D, mode: TrunkMode): tf.Tensor4D {
  let x = tf.relu(batchNorm(params, bn, `${TRUNK_PREFIX}.bn1`, conv(params, `${TRUNK_PREFIX}.conv1.weight`, images, 2, 3), mode));
  // After ReLU every value is >= 0, so zero padding acts as PyTorch's -inf padding of the max-pool.
  x = tf.maxPool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 2, 'valid');
  for (const block of resnet50Blocks(stemWidth)) {
    if (block.name.startsWith(FROZEN_BLOCK_PREFIX)) x = bottleneck(params, bn, block, x, mode);
  }
  return x;
}

/** layer2-layer4 (trained): the frozen part's output -> the feature map [N, 7, 7, 32 * stem]. */
export function trunkTrainedPart(params: ParamReader, bn: BatchNormState, stemWidth: number, x: tf.Tensor4D, mode: TrunkMode): tf.Tensor4D {
  for (const block of resnet50Blocks(stemWidth)) {
    if (!block.name.startsWith(FROZEN_BLOCK_PREFIX)) x = bottleneck(params, bn, block, x, mode);
  }
  return x;
}

/** The whole trunk: normalised NHWC images [N, 224, 224, 3] -> feature map [N, 7, 7, C]. */
export function trunkForward(params: ParamReader, bn: BatchNormState, stemWidth: number, images: tf.Tensor4D, mode: TrunkMode): tf.Tensor4D {
  return trunkTrainedPart(params, bn, stemWidth, trunkFrozenPart(params, bn, stemWidth, images, mode), mode);
}
