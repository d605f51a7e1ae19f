import { attr } from '../onnx/attributes.js';
import { conv2d, foldBatchNorm, maxPool, type BatchNormParams } from '../onnx/conv-blocks.js';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import { relu } from '../onnx/nn-blocks.js';
import { DataType } from '../onnx/proto.js';
import type { Tensor32 } from '../onnx/weights.js';
import { resnet50Blocks } from '../model/torchvision-resnet-keys.js';

/**
 * torchvision's ResNet-50 trunk (v1.5: the stride on the 3x3 conv) as ONNX, with the seed's test
 * preprocessing inside the graph: uint8 RGB NHWC crop -> /255 -> minus ImageNet mean -> / std ->
 * NCHW. BatchNorm runs in eval mode (running statistics, eps 1e-5), folded into the convolutions.
 */

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
export const BATCH_NORM_EPS = 1e-5;

/** Reads a float32 parameter of the trunk by its key under the trunk's prefix. */
export type TrunkParams = (name: string) => Tensor32;

/**
 * ToTensor + Normalize as torchvision computes them in float32: Div by 255 (a division, not a
 * multiplication by 1/255, so the values match bit for bit), Sub mean, Div std.
 */
export function emitImageNetPreprocess(b: GraphBuilder, uint8Nhwc: string, hint = 'preprocess'): string {
  const asFloat = b.op('Cast', [uint8Nhwc], { to: attr.int(DataType.float32) }, `${hint}_float`);
  const unit = b.op('Div', [asFloat, b.constFloat(`${hint}_255`, 255)], {}, `${hint}_unit`);
  const centred = b.op('Sub', [unit, b.constFloat(`${hint}_mean`, [...IMAGENET_MEAN], [3])], {}, `${hint}_centred`);
  const scaled = b.op('Div', [centred, b.constFloat(`${hint}_std`, [...IMAGENET_STD], [3])], {}, `${hint}_normalised`);
  return b.op('Transpose', [scaled], { perm: attr.ints([0, 3, 1, 2]) }, `${hint}_nchw`);
}

function batchNormOf(params: TrunkParams, prefix: string): BatchNormParams {
  return {
    gamma: params(`${prefix}.weight`).data,
    beta: params(`${prefix}.bias`).data,
    mean: params(`${prefix}.running_mean`).data,
    variance: params(`${prefix}.running_var`).data,
    epsilon: BATCH_NORM_EPS,
  };
}

/** conv (no bias, as torchvision's) followed by eval BatchNorm, as one Conv node. */
function convBn(
  b: GraphBuilder, x: string, params: TrunkParams, conv: string, bn: string, stride: number, pad: number,
): string {
  const folded = foldBatchNorm(params(`${conv}.weight`), undefined, batchNormOf(params, bn));
  return conv2d(b, x, { weight: folded.weight, bias: folded.bias, strides: [stride, stride], pads: [pad, pad, pad, pad] }, conv);
}

/**
 * Emit the trunk on an NCHW float input; returns layer4's output [N, C, 7, 7] (C = 32 x stem width).
 * `params` gets keys such as `layer1.0.conv1.weight`.
 */
export function emitTorchvisionResNet50(b: GraphBuilder, params: TrunkParams, nchw: string, stemWidth: number): string {
  let x = relu(b, convBn(b, nchw, params, 'conv1', 'bn1', 2, 3), 'stem_relu');
  // torchvision's MaxPool2d(3, 2, padding=1) pads with -inf, which is ONNX MaxPool's own padding.
  x = maxPool(b, x, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 'stem_maxpool');
  for (const block of resnet50Blocks(stemWidth)) {
    const p = block.name;
    let h = relu(b, convBn(b, x, params, `${p}.conv1`, `${p}.bn1`, 1, 0), `${p}_relu1`);
    h = relu(b, convBn(b, h, params, `${p}.conv2`, `${p}.bn2`, block.stride, 1), `${p}_relu2`);
    h = convBn(b, h, params, `${p}.conv3`, `${p}.bn3`, 1, 0);
    const identity = block.downsample ? convBn(b, x, params, `${p}.downsample.0`, `${p}.downsample.1`, block.stride, 0) : x;
    x = relu(b, b.op('Add', [h, identity], {}, `${p}_residual`), `${p}_out`);
  }
  return x;
}
