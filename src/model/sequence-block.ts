import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.js';
import type { RecipeEncoderConfig } from './config.js';
import { namesUnder, type ParamReader } from './param-store.js';
import { checkpointed } from './checkpoint.js';
import { encoderLayer } from './encoder-layer.js';
import { maskedMean } from './masked-mean.js';
import { dropout, type LayerContext } from './layer-context.js';

/**
 * One HT block (the seed's SingleTransformerEncoder): add learned positions, dropout, the encoder
 * layers with padded keys masked, then the masked mean over valid positions.
 * x: [N, T, d]; valid: [N, T] float 1/0. Returns [N, d]. Checkpointed as a whole while training.
 */
export function sequenceBlock(
  params: ParamReader, prefix: string, x: tf.Tensor3D, valid: tf.Tensor2D,
  config: RecipeEncoderConfig, ctx: LayerContext,
): tf.Tensor2D {
  const [, length] = x.shape;
  if (length > config.maxPositions) {
    throw new UserError(`${prefix}: sequence of ${length} exceeds the ${config.maxPositions} learned positions`);
  }
  return checkpointed(params, namesUnder(params, prefix), [x, valid], ctx, (p, [xs, v], c) =>
    blockForward(p, prefix, xs as tf.Tensor3D, v as tf.Tensor2D, config, c)) as tf.Tensor2D;
}

function blockForward(
  params: ParamReader, prefix: string, x: tf.Tensor3D, valid: tf.Tensor2D,
  config: RecipeEncoderConfig, ctx: LayerContext,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [, length, width] = x.shape;
    const positions = tf.slice(params.get(`${prefix}.pos_encoder.weight`), [0, 0], [length, width]);
    let h = dropout(tf.add(x, positions), ctx) as tf.Tensor3D;
    for (let i = 0; i < config.layersPerBlock; i++) {
      h = encoderLayer(params, `${prefix}.tf.layers.${i}`, h, { heads: config.heads, keyValid: valid }, ctx);
    }
    return maskedMean(h, valid);
  });
}
