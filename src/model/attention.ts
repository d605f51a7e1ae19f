import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { linear } from './linear.js';
import { activeDropout, dropoutMask, type LayerContext } from './layer-context.js';

/** Added to the scores of padded keys; exp() of it underflows to exactly 0, like PyTorch's -inf. */
const MASKED_SCORE = -1e9;

export interface AttentionInputs {
  query: tf.Tensor3D; // [N, Tq, d]
  key: tf.Tensor3D; // [N, Tk, d]
  value: tf.Tensor3D; // [N, Tk, d]
  /** [N, Tk], 1 = attend, 0 = padding (PyTorch key_padding_mask inverted). */
  keyValid?: tf.Tensor2D;
}

type SaveFn = (tensors: tf.Tensor[]) => void;
type Op = (...inputs: tf.Tensor[]) => tf.Tensor;

function splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [n, t, d] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [n, t, heads, d / heads]), [0, 2, 1, 3]) as tf.Tensor4D;
}

function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [n, h, t, hd] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [n, t, h * hd]) as tf.Tensor3D;
}

/**
 * softmax(q k^T / sqrt(hd) + bias) v over heads, with dropout on the weights, as one op with a
 * hand-written gradient. tf.js keeps every intermediate's gradient until backprop ends, so the
 * composed version costs ~10 attention-sized tensors per call; this one saves q, k, v, p (and the
 * dropout mask). bias [N,1,1,Tk] is a constant (padding), closed over rather than differentiated.
 */
function attentionCore(heads: number, bias: tf.Tensor | null, dropoutRate: number, seed: string): Op {
  return tf.customGrad(((q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, save: SaveFn) => {
    const scale = 1 / Math.sqrt((q.shape[2] as number) / heads);
    const qh = tf.mul(splitHeads(q, heads), scale);
    const kh = splitHeads(k, heads);
    const vh = splitHeads(v, heads);
    let scores = tf.matMul(qh as tf.Tensor4D, kh, false, true);
    if (bias) scores = tf.add(scores, bias);
    const p = tf.softmax(scores, -1);
    const mask = dropoutRate > 0 ? dropoutMask(p.shape, dropoutRate, seed) : null;
    const weights = mask ? tf.mul(p, mask) : p;
    save(mask ? [qh, kh, vh, p, mask] : [qh, kh, vh, p]);
    return {
      value: mergeHeads(tf.matMul(weights as tf.Tensor4D, vh)),
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sp, sm] = saved as tf.Tensor4D[];
        const dyh = splitHeads(dy, heads);
        const w = sm ? tf.mul(sp, sm) as tf.Tensor4D : sp;
        const dv = tf.matMul(w, dyh, true, false);
        let dp = tf.matMul(dyh, sv, false, true);
        if (sm) dp = tf.mul(dp, sm);
        // softmax backward: ds = p * (dp - sum(dp * p))
        const ds = tf.mul(sp, tf.sub(dp, tf.sum(tf.mul(dp, sp), -1, true))) as tf.Tensor4D;
        const dq = tf.mul(tf.matMul(ds, sk), scale);
        const dk = tf.matMul(ds, sq, true, false);
        return [mergeHeads(dq), mergeHeads(dk), mergeHeads(dv)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as Op;
}

/**
 * nn.MultiheadAttention (packed in_proj [3d, d] holding q, k, v rows; out_proj), batch-first.
 * Scores are q k^T / sqrt(head_dim); attention weights get dropout while training, as in PyTorch.
 */
export function multiHeadAttention(
  params: ParamReader, prefix: string, heads: number, inputs: AttentionInputs, ctx: LayerContext,
): tf.Tensor3D {
  return tf.tidy(() => {
    const inW = params.get(`${prefix}.in_proj_weight`) as tf.Tensor2D;
    const inB = params.get(`${prefix}.in_proj_bias`);
    const d = inW.shape[1];
    // Three linears on row slices of the packed weight rather than one packed linear and a split:
    // the split would keep two extra copies of q, k, v alive for backprop.
    const project = (x: tf.Tensor, i: number) =>
      linear(x, tf.slice(inW, [i * d, 0], [d, d]), tf.slice(inB, [i * d], [d]));
    const q = project(inputs.query, 0);
    const k = project(inputs.key, 1);
    const v = project(inputs.value, 2);
    let bias: tf.Tensor | null = null;
    if (inputs.keyValid) {
      const [n, tk] = inputs.keyValid.shape;
      bias = tf.mul(tf.sub(1, tf.reshape(inputs.keyValid, [n, 1, 1, tk])), MASKED_SCORE);
    }
    const context = attentionCore(heads, bias, activeDropout(ctx), ctx.seeds.next())(q, k, v);
    return linear(context, params.get(`${prefix}.out_proj.weight`), params.get(`${prefix}.out_proj.bias`)) as tf.Tensor3D;
  });
}
