import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { linearNamed } from './linear.js';
import { withoutGradient } from './without-gradient.js';

/** Probabilities below this are dropped before normalising (the seed keeps p >= 0.5). */
export const KEEP_THRESHOLD = 0.5;

export interface DebiasOutputs {
  /** ẽ_I = e_I + pi V [N, E]. */
  embedding: tf.Tensor2D;
  /** z = pi V [N, E]; exactly zero for an image with no kept label. */
  z: tf.Tensor2D;
  /** pi [N, K]: kept probabilities divided by their sum (all zero if none kept). */
  probNormalised: tf.Tensor2D;
  /** V = D Wv^T + b_v [K, E]. */
  dictProjected: tf.Tensor2D;
}

/** V = Wv(D): the dictionary [K, recipe width] projected into the embedding space. Constant at inference. */
export function projectDictionary(params: ParamReader, dictionary: tf.Tensor2D): tf.Tensor2D {
  return linearNamed(params, 'Wv', dictionary) as tf.Tensor2D;
}

/** pi: p = sigmoid(logits), p < 0.5 -> 0, divided by the row sum; a row with nothing kept is 0 (the seed's 0/0 -> 0). */
export function normalisedKeptProbabilities(logits: tf.Tensor2D): tf.Tensor2D {
  const p = tf.sigmoid(logits);
  // Masks as constants: comparisons have no gradient in tf.js; p itself keeps its gradient.
  const keep = withoutGradient(p, (x) => tf.cast(tf.greaterEqual(x, KEEP_THRESHOLD), 'float32'));
  const kept = tf.mul(p, keep);
  const total = tf.sum(kept, 1, true);
  const noneKept = withoutGradient(total, (x) => tf.cast(tf.equal(x, 0), 'float32'));
  // Divide by 1 where nothing is kept: 0/1 = 0 exactly, and neither value nor gradient becomes NaN.
  return tf.div(kept, tf.add(total, noneKept)) as tf.Tensor2D;
}

/** The backdoor adjustment ẽ_I = e_I + pi V. */
export function debiasImageEmbedding(
  params: ParamReader, imageEmbedding: tf.Tensor2D, logits: tf.Tensor2D, dictionary: tf.Tensor2D,
): DebiasOutputs {
  const probNormalised = normalisedKeptProbabilities(logits);
  const dictProjected = projectDictionary(params, dictionary);
  const z = tf.matMul(probNormalised, dictProjected) as tf.Tensor2D;
  return { embedding: tf.add(imageEmbedding, z) as tf.Tensor2D, z, probNormalised, dictProjected };
}
