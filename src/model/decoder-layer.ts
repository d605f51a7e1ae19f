import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { layerNorm } from './layer-norm.js';
import { multiHeadAttention } from './attention.js';
import { feedForward } from './feed-forward.js';
import { dropout, type LayerContext } from './layer-context.js';

export interface DecoderLayerInputs {
  target: tf.Tensor3D; // [N, K, d]
  memory: tf.Tensor3D; // [N, HW, d]
  /** Learned label queries [K, d], added to the target as its positional term. */
  queryPos: tf.Tensor2D;
  /** Positions of the memory [HW, d], added to the keys. */
  memoryPos: tf.Tensor2D;
}

/**
 * A query2labels decoder layer with its self-attention removed (keys norm2/norm3 remain):
 * t = norm2(t + crossattn(t + query_pos, memory + pos, memory)); t = norm3(t + ff(t)).
 */
export function decoderLayer(
  params: ParamReader, prefix: string, heads: number, inputs: DecoderLayerInputs, ctx: LayerContext,
): tf.Tensor3D {
  // tidy: see encoderLayer (bounds the forward's peak memory under a gradient tape).
  return tf.tidy(() => {
    const query = tf.add(inputs.target, inputs.queryPos) as tf.Tensor3D;
    const key = tf.add(inputs.memory, inputs.memoryPos) as tf.Tensor3D;
    const attended = multiHeadAttention(
      params, `${prefix}.multihead_attn`, heads, { query, key, value: inputs.memory }, ctx,
    );
    const t = layerNorm(params, `${prefix}.norm2`, tf.add(inputs.target, dropout(attended, ctx)), ctx.layerNormEps);
    const ff = feedForward(params, prefix, t, ctx);
    return layerNorm(params, `${prefix}.norm3`, tf.add(t, dropout(ff, ctx)), ctx.layerNormEps) as tf.Tensor3D;
  });
}
