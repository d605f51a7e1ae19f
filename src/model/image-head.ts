import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { linearNamed } from './linear.js';

/** e_I = tanh(img_fc(mean over the H*W positions of F)); F is NHWC [N, H, W, C]. */
export function imageEmbedding(params: ParamReader, features: tf.Tensor4D): tf.Tensor2D {
  return tf.tanh(linearNamed(params, 'img_fc', tf.mean(features, [1, 2]))) as tf.Tensor2D;
}
