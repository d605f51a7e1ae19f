import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { feedForward } from './feed-forward.js';
import { layerNorm } from './layer-norm.js';
import { multiHeadAttention } from './attention.js';
import { dropout, type LayerContext } from './layer-context.js';

export interface EncoderLayerOptions {
  heads: number;
  /** [N, T], 1 = real position; padded positions are never attended to. */
  keyValid?: tf.Tensor2D;
  /** Positional term added to queries and keys only (DETR style), broadcast over the batch. */
  pos?: tf.Tensor;
}

/**
 * A post-norm transformer encoder layer (PyTorch nn.TransformerEncoderLayer defaults and the
 * query2labels encoder layer): x = norm1(x + attn(x)); x = norm2(x + ff(x)).
 */
export function encoderLayer(
  params: ParamReader, prefix: string, x: tf.Tensor3D, options: EncoderLayerOptions, ctx: LayerContext,
): tf.Tensor3D {
  // tidy: inside a gradient tape only the tensors kernels save for backprop survive it, so the
  // forward's peak memory is one layer's intermediates rather than the whole model's.
  return tf.tidy(() => {
    const qk = options.pos ? (tf.add(x, options.pos) as tf.Tensor3D) : x;
    const attended = multiHeadAttention(
      params, `${prefix}.self_attn`, options.heads, { query: qk, key: qk, value: x, keyValid: options.keyValid }, ctx,
    );
    const afterAttention = layerNorm(params, `${prefix}.norm1`, tf.add(x, dropout(attended, ctx)), ctx.layerNormEps);
    const ff = feedForward(params, prefix, afterAttention, ctx);
    return layerNorm(params, `${prefix}.norm2`, tf.add(afterAttention, dropout(ff, ctx)), ctx.layerNormEps) as tf.Tensor3D;
  });
}
