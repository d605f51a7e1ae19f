import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';

type Op = (...inputs: tf.Tensor[]) => tf.Tensor;
type SaveFn = (tensors: tf.Tensor[]) => void;

/*
 * tfjs-backend-wasm runs matMul with transposeA/transposeB 17-40x slower than a plain matMul of
 * explicitly transposed operands (measured: [9600,256]x[1024,256]^T 2.6 s vs 0.15 s), and
 * tf.matMul's own gradient uses both flags. So the linear layer carries its own gradient made of
 * plain matMuls: y = x W^T + b; dx = dy W; dW = dy^T x; db = sum(dy).
 */
const linearWithBias = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: SaveFn) => {
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, tf.transpose(w)), b),
    gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor2D[]) =>
      [tf.matMul(dy, ws), tf.matMul(tf.transpose(dy), xs), tf.sum(dy, 0)],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as Op;

const linearNoBias = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, save: SaveFn) => {
  save([x, w]);
  return {
    value: tf.matMul(x, tf.transpose(w)),
    gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor2D[]) => [tf.matMul(dy, ws), tf.matMul(tf.transpose(dy), xs)],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as Op;

/**
 * PyTorch nn.Linear over the last axis: y = x W^T + b with W stored [out, in] (the seed's layout,
 * so imported weights need no transpose). Leading axes are flattened for one 2-D matmul.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inFeatures = x.shape[x.rank - 1] as number;
  const outFeatures = weight.shape[0] as number;
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, inFeatures]);
  const y = bias ? linearWithBias(flat, weight, bias) : linearNoBias(flat, weight);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outFeatures]);
}

/** `linear` with the `<prefix>.weight` / `<prefix>.bias` parameters. */
export function linearNamed(params: ParamReader, prefix: string, x: tf.Tensor): tf.Tensor {
  return linear(x, params.get(`${prefix}.weight`), params.get(`${prefix}.bias`));
}
