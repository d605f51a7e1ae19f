import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { activeDropout, dropoutMask, type LayerContext } from './layer-context.js';

type SaveFn = (tensors: tf.Tensor[]) => void;
type Op = (...inputs: tf.Tensor[]) => tf.Tensor;

/*
 * linear2(dropout(relu(linear1 x))) as one op with a hand-written gradient made of plain matMuls
 * (see linear.ts on wasm's slow transposed matMul, layer-norm.ts on memory). Saves x, the ReLU
 * output and the dropout mask.
 */
function feedForwardOp(dropoutRate: number, seed: string): Op {
  return tf.customGrad(((x: tf.Tensor2D, w1: tf.Tensor2D, b1: tf.Tensor1D, w2: tf.Tensor2D, b2: tf.Tensor1D, save: SaveFn) => {
    const hidden = tf.relu(tf.add(tf.matMul(x, tf.transpose(w1)), b1));
    const mask = dropoutRate > 0 ? dropoutMask(hidden.shape, dropoutRate, seed) : null;
    const dropped = mask ? tf.mul(hidden, mask) : hidden;
    save(mask ? [x, w1, w2, hidden, mask] : [x, w1, w2, hidden]);
    return {
      value: tf.add(tf.matMul(dropped, tf.transpose(w2)), b2),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [sx, sw1, sw2, sh, sm] = saved as tf.Tensor2D[];
        const dropped2 = sm ? tf.mul(sh, sm) : sh;
        const dyT = tf.transpose(dy);
        const dW2 = tf.matMul(dyT, dropped2);
        let dHidden = tf.matMul(dy, sw2);
        if (sm) dHidden = tf.mul(dHidden, sm);
        const dPre = tf.mul(dHidden, tf.cast(tf.greater(sh, 0), 'float32')) as tf.Tensor2D;
        const dW1 = tf.matMul(tf.transpose(dPre), sx);
        return [tf.matMul(dPre, sw1), dW1, tf.sum(dPre, 0), dW2, tf.sum(dy, 0)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as Op;
}

/** The transformer feed-forward block: linear2(dropout(relu(linear1(x)))), over the last axis. */
export function feedForward(params: ParamReader, prefix: string, x: tf.Tensor, ctx: LayerContext): tf.Tensor {
  const op = feedForwardOp(activeDropout(ctx), ctx.seeds.next());
  const d = x.shape[x.rank - 1] as number;
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, d]);
  if (ctx.gateMargins) recordGateMargin(ctx.gateMargins, params, prefix, flat);
  const y = op(
    flat,
    params.get(`${prefix}.linear1.weight`), params.get(`${prefix}.linear1.bias`),
    params.get(`${prefix}.linear2.weight`), params.get(`${prefix}.linear2.bias`),
  );
  return x.rank === 2 ? y : tf.reshape(y, x.shape);
}

function recordGateMargin(margins: Map<string, number>, params: ParamReader, prefix: string, x: tf.Tensor): void {
  const margin = tf.tidy(() => {
    const pre = tf.abs(tf.add(tf.matMul(x as tf.Tensor2D, params.get(`${prefix}.linear1.weight`) as tf.Tensor2D, false, true), params.get(`${prefix}.linear1.bias`)));
    return tf.div(tf.min(pre), tf.max(pre)).dataSync()[0];
  });
  margins.set(prefix, Math.min(margins.get(prefix) ?? Infinity, margin));
}
