import * as tf from '@tensorflow/tfjs';

/**
 * Mean over axis 1 of `features` [N, T, d] counting only positions where `valid` [N, T] is 1.
 * Computed as the seed's AvgPoolSequence does: weight each position by valid/(count + 1e-12), then
 * sum (not sum-then-divide), so results match the reference to the last bit where possible.
 */
export function maskedMean(features: tf.Tensor3D, valid: tf.Tensor2D): tf.Tensor2D {
  const count = tf.sum(valid, -1, true);
  const weights = tf.mul(valid, tf.div(1, tf.add(count, 1e-12)));
  return tf.sum(tf.mul(features, tf.expandDims(weights, -1)), 1) as tf.Tensor2D;
}
