import { attr, type Attrs } from './attributes.js';
import type { GraphBuilder } from './graph-builder.js';
import { expectRank, type Tensor32 } from './weights.js';

/** Pads as ONNX orders them for 2-D ops: [top, left, bottom, right]. */
export type Pads2d = readonly [number, number, number, number];

/** A 2-D convolution in ONNX layout: weight [out, in/group, kh, kw], NCHW activations. */
export interface Conv2dParams {
  weight: Tensor32;
  bias?: Float32Array;
  strides?: readonly [number, number];
  pads?: Pads2d;
  dilations?: readonly [number, number];
  group?: number;
}

/** Inference-mode batch normalisation statistics and affine terms, one value per channel. */
export interface BatchNormParams {
  gamma?: Float32Array;
  beta?: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

export function conv2d(b: GraphBuilder, x: string, p: Conv2dParams, hint = 'conv'): string {
  const [out, , kh, kw] = expectRank(p.weight, 4, `${hint}.weight`);
  const inputs = [x, b.initializer(`${hint}.weight`, p.weight.data, p.weight.dims)];
  if (p.bias) {
    if (p.bias.length !== out) throw new Error(`${hint}.bias: ${p.bias.length} values for ${out} filters`);
    inputs.push(b.initializer(`${hint}.bias`, p.bias, [out]));
  }
  const attrs: Attrs = {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(p.strides ?? [1, 1]),
    pads: attr.ints(p.pads ?? [0, 0, 0, 0]),
    dilations: attr.ints(p.dilations ?? [1, 1]),
    group: attr.int(p.group ?? 1),
  };
  return b.op('Conv', inputs, attrs, hint);
}

/**
 * Fold inference batch norm into the preceding convolution: with s = gamma / sqrt(var + eps),
 * W' = W * s (per output channel) and b' = (b - mean) * s + beta. Computed in float64, rounded once.
 */
export function foldBatchNorm(weight: Tensor32, bias: Float32Array | undefined, bn: BatchNormParams): { weight: Tensor32; bias: Float32Array } {
  const [out] = weight.dims;
  for (const [name, v] of Object.entries({ mean: bn.mean, variance: bn.variance, gamma: bn.gamma, beta: bn.beta })) {
    if (v && v.length !== out) throw new Error(`batch norm ${name} has ${v.length} values for ${out} channels`);
  }
  const perChannel = weight.data.length / out;
  const w = new Float32Array(weight.data.length);
  const newBias = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const scale = (bn.gamma ? bn.gamma[o] : 1) / Math.sqrt(bn.variance[o] + bn.epsilon);
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) w[i] = weight.data[i] * scale;
    newBias[o] = ((bias ? bias[o] : 0) - bn.mean[o]) * scale + (bn.beta ? bn.beta[o] : 0);
  }
  return { weight: { data: w, dims: weight.dims }, bias: newBias };
}

/** Standalone inference BatchNormalization over axis 1 (NCHW), for a norm no conv precedes. */
export function batchNorm(b: GraphBuilder, x: string, bn: BatchNormParams, hint = 'batch_norm'): string {
  const c = bn.mean.length;
  const ones = new Float32Array(c).fill(1);
  const inputs = [
    b.initializer(`${hint}.gamma`, bn.gamma ?? ones, [c]),
    b.initializer(`${hint}.beta`, bn.beta ?? new Float32Array(c), [c]),
    b.initializer(`${hint}.mean`, bn.mean, [c]),
    b.initializer(`${hint}.variance`, bn.variance, [c]),
  ];
  return b.op('BatchNormalization', [x, ...inputs], { epsilon: attr.float(bn.epsilon) }, hint);
}

/**
 * Max pooling over NCHW; pads never win the max (ONNX pads MaxPool with -inf, like TF 'same').
 * Trap: do not feed it from a zero Pad node to get Keras ZeroPadding2D semantics. onnxruntime's
 * PadFusion (1.30, measured) merges a zero Pad into a following MaxPool's pads, silently turning
 * zeros into -inf; use zeroPaddedMaxPool instead.
 */
export function maxPool(
  b: GraphBuilder,
  x: string,
  p: { kernel: readonly [number, number]; strides?: readonly [number, number]; pads?: Pads2d },
  hint = 'max_pool',
): string {
  return b.op(
    'MaxPool',
    [x],
    { kernel_shape: attr.ints(p.kernel), strides: attr.ints(p.strides ?? p.kernel), pads: attr.ints(p.pads ?? [0, 0, 0, 0]) },
    hint,
  );
}

/**
 * Max pooling of x zero-padded by `zeroPads` (then padded by `pads` that never win, as 'same' does),
 * without a Pad node: MaxPool with all pads as -inf, then Max with a constant [Ho, Wo] map that is
 * 0 where a window covers a zero-padded pixel and -inf elsewhere. Exact, and immune to PadFusion.
 * `size` is x's static [H, W].
 */
export function zeroPaddedMaxPool(
  b: GraphBuilder,
  x: string,
  p: { size: readonly [number, number]; kernel: readonly [number, number]; strides?: readonly [number, number]; zeroPads: Pads2d; pads?: Pads2d },
  hint = 'max_pool',
): string {
  const strides = p.strides ?? p.kernel;
  const extra = p.pads ?? [0, 0, 0, 0];
  const total = p.zeroPads.map((v, i) => v + extra[i]) as unknown as Pads2d;
  const pooled = maxPool(b, x, { kernel: p.kernel, strides, pads: total }, `${hint}_inf_pads`);
  const border = zeroBorderMap(p.size, p.kernel, strides, p.zeroPads, extra);
  return b.op('Max', [pooled, b.initializer(`${hint}_zero_border`, border.data, border.dims)], {}, hint);
}

/** For each pooling window: 0 if it covers a zero-padded pixel, else -inf. */
function zeroBorderMap(
  size: readonly [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  zeroPads: Pads2d,
  extra: Pads2d,
): { data: Float32Array; dims: number[] } {
  // Per axis: padded coordinate ranges of the zero band before and after the real pixels.
  const axes = [0, 1].map((a) => {
    const before = extra[a];
    const zeroBefore = zeroPads[a];
    const zeroAfter = zeroPads[a + 2];
    const padded = size[a] + zeroBefore + zeroAfter + extra[a] + extra[a + 2];
    const out = Math.floor((padded - kernel[a]) / strides[a]) + 1;
    const realStart = before + zeroBefore;
    const realEnd = realStart + size[a]; // exclusive
    const zeroEnd = realEnd + zeroAfter;
    return { out, isZero: (i: number) => (i >= before && i < realStart) || (i >= realEnd && i < zeroEnd), isReal: (i: number) => i >= realStart && i < realEnd };
  });
  const [h, w] = axes;
  const data = new Float32Array(h.out * w.out).fill(-Infinity);
  for (let y = 0; y < h.out; y++)
    for (let x = 0; x < w.out; x++) {
      let coversZero = false;
      for (let i = y * strides[0]; i < y * strides[0] + kernel[0] && !coversZero; i++)
        for (let j = x * strides[1]; j < x * strides[1] + kernel[1]; j++) {
          // A zero pixel: inside the zero band on one axis and not in the -inf band on the other.
          const rowZero = h.isZero(i) && (w.isZero(j) || w.isReal(j));
          const colZero = w.isZero(j) && (h.isZero(i) || h.isReal(i));
          if (rowZero || colZero) {
            coversZero = true;
            break;
          }
        }
      if (coversZero) data[y * w.out + x] = 0;
    }
  return { data, dims: [h.out, w.out] };
}

/** Explicit constant padding (zeros unless `value` says otherwise) of the two spatial axes of an NCHW tensor. */
export function constantPad2d(b: GraphBuilder, x: string, pads: Pads2d, value = 0, hint = 'pad'): string {
  const [top, left, bottom, right] = pads;
  const inputs = [x, b.constInt64(`${hint}_pads`, [0, 0, top, left, 0, 0, bottom, right])];
  if (value !== 0) inputs.push(b.constFloat(`${hint}_value`, value));
  return b.op('Pad', inputs, { mode: attr.string('constant') }, hint);
}

export function zeroPad2d(b: GraphBuilder, x: string, pads: Pads2d, hint = 'zero_pad'): string {
  return constantPad2d(b, x, pads, 0, hint);
}

/** NCHW -> [N, C]: the mean over all spatial positions. */
export function globalAveragePool(b: GraphBuilder, x: string, hint = 'global_avg_pool'): string {
  const pooled = b.op('GlobalAveragePool', [x], {}, `${hint}_nc11`);
  return b.op('Flatten', [pooled], { axis: attr.int(1) }, hint);
}

/** ReduceMean over `axes` (opset 17 still takes axes as an attribute; opset 18 moved them to an input). */
export function reduceMean(b: GraphBuilder, x: string, axes: readonly number[], keepdims = false, hint = 'reduce_mean'): string {
  return b.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) }, hint);
}

/**
 * TensorFlow 'same' padding along one axis: out = ceil(in / stride), total pad is whatever makes
 * that fit, and the odd pixel goes at the end (bottom/right), unlike a symmetric guess.
 */
export function samePadding(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}
