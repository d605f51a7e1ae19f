import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.js';
import { namesUnder, type ParamReader } from './param-store.js';
import { checkpointed } from './checkpoint.js';
import { encoderLayer } from './encoder-layer.js';
import { decoderLayer } from './decoder-layer.js';
import { layerNorm } from './layer-norm.js';
import { linear } from './linear.js';
import { sinePositionEmbedding } from './sine-position.js';
import type { LayerContext } from './layer-context.js';

export interface ClassifierOutputs {
  /** Ingredient logits [N, K] (before sigmoid). */
  logits: tf.Tensor2D;
  /** Encoder output [N, H*W, width] (the seed's encoder_memory, transposed). */
  memory: tf.Tensor3D;
  /** Decoder output after its final LayerNorm [N, K, width]. */
  decoded: tf.Tensor3D;
}

/**
 * The query2labels head on the backbone map F (NHWC [N, H, W, C]): optional 1x1 input projection,
 * post-norm encoder layers over the H*W positions with the sine encoding added to queries and keys,
 * cross-attention-only decoder layers from a zero target with the learned label queries as its
 * positional term, a final LayerNorm, and the per-label linear logit_c = <W_c, h_c> + b_c.
 */
export function classifyIngredients(
  params: ParamReader, config: ModelConfig, features: tf.Tensor4D, ctx: LayerContext,
): ClassifierOutputs {
  return tf.tidy(() => {
    const { width, heads, encoderLayers, decoderLayers, labels } = config.classifier;
    const [n, h, w, c] = features.shape;
    // NHWC flattened row-major is the same position order as torch's flatten(2) of NCHW.
    let src = tf.reshape(features, [n, h * w, c]) as tf.Tensor3D;
    if (config.classifier.inputProjection) {
      const weight = tf.reshape(params.get('input_proj.weight'), [width, c]);
      src = linear(src, weight, params.get('input_proj.bias')) as tf.Tensor3D;
    }
    const pos = sinePositionEmbedding(h, w, width);
    let memory = src;
    for (let i = 0; i < encoderLayers; i++) {
      const prefix = `transformer.encoder.layers.${i}`;
      memory = checkpointed(params, namesUnder(params, prefix), [memory, pos], ctx, (p, [m, ps], layerCtx) =>
        encoderLayer(p, prefix, m as tf.Tensor3D, { heads, pos: ps }, layerCtx)) as tf.Tensor3D;
    }
    let target = tf.zeros([n, labels, width]) as tf.Tensor3D;
    for (let i = 0; i < decoderLayers; i++) {
      const prefix = `transformer.decoder.layers.${i}`;
      const names = [...namesUnder(params, prefix), 'query_embed.weight'];
      target = checkpointed(params, names, [target, memory, pos], ctx, (p, [t, m, ps], layerCtx) => decoderLayer(
        p, prefix, heads,
        {
          target: t as tf.Tensor3D, memory: m as tf.Tensor3D,
          queryPos: p.get('query_embed.weight') as tf.Tensor2D, memoryPos: ps as tf.Tensor2D,
        },
        layerCtx,
      )) as tf.Tensor3D;
    }
    const decoded = layerNorm(params, 'transformer.decoder.norm', target, ctx.layerNormEps) as tf.Tensor3D;
    const logits = tf.add(tf.sum(tf.mul(decoded, params.get('fc.W')), -1), params.get('fc.b')) as tf.Tensor2D;
    return { logits, memory, decoded };
  });
}
