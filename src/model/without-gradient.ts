import * as tf from '@tensorflow/tfjs';

/**
 * fn(x) treated as a constant by backprop (tf.js has no stop_gradient): ops run inside a custom
 * gradient's forward are not recorded on the tape, and x receives a zero gradient. Needed for
 * comparisons (Greater, ...) that have no gradient, and for the ASL focusing weight.
 */
export function withoutGradient(x: tf.Tensor, fn: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
  const op = tf.customGrad(
    ((input: tf.Tensor) => ({ value: fn(input), gradFunc: () => tf.zerosLike(input) })) as unknown as
      Parameters<typeof tf.customGrad>[0],
  ) as (input: tf.Tensor) => tf.Tensor;
  return op(x);
}
