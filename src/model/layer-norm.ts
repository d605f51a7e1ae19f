import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';

type SaveFn = (tensors: tf.Tensor[]) => void;
type Op = (...inputs: tf.Tensor[]) => tf.Tensor;

/*
 * LayerNorm as one custom-gradient op: autodiff of the composed ops would keep ~7 activation-sized
 * intermediates per call alive until backprop (the wasm heap caps at 4 GB); this keeps x-hat and
 * 1/std only. dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * weight.
 */
function makeLayerNormOp(eps: number): Op {
  return tf.customGrad(((x: tf.Tensor2D, weight: tf.Tensor1D, bias: tf.Tensor1D, save: SaveFn) => {
    const { mean, variance } = tf.moments(x, -1, true);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(tf.sub(x, mean), rstd);
    save([xhat, rstd, weight]);
    return {
      value: tf.add(tf.mul(xhat, weight), bias),
      gradFunc: (dy: tf.Tensor2D, [xh, rs, w]: tf.Tensor[]) => {
        const g = tf.mul(dy, w);
        const centred = tf.sub(g, tf.mean(g, -1, true));
        const dx = tf.mul(tf.sub(centred, tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true))), rs);
        return [dx, tf.sum(tf.mul(dy, xh), 0), tf.sum(dy, 0)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as Op;
}

const opsByEps = new Map<number, Op>();

/** nn.LayerNorm over the last axis (biased variance, eps inside the square root). */
export function layerNorm(params: ParamReader, prefix: string, x: tf.Tensor, eps: number): tf.Tensor {
  let op = opsByEps.get(eps);
  if (!op) {
    op = makeLayerNormOp(eps);
    opsByEps.set(eps, op);
  }
  const d = x.shape[x.rank - 1] as number;
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, d]);
  const y = op(flat, params.get(`${prefix}.weight`), params.get(`${prefix}.bias`));
  return x.rank === 2 ? y : tf.reshape(y, x.shape);
}
