import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { COMPONENTS, PROJECTION_PAIRS, projectionKey, type ComponentName, type ProjectionKey } from './components.js';
import { linearNamed } from './linear.js';

/** e_R = tanh(merger_recipe([f_t; f_i; f_s])). */
export function recipeEmbedding(params: ParamReader, features: Record<ComponentName, tf.Tensor2D>): tf.Tensor2D {
  const joined = tf.concat(COMPONENTS.map((c) => features[c]), 1);
  return tf.tanh(linearNamed(params, 'merger_recipe', joined)) as tf.Tensor2D;
}

/** The six HT projections P[a->b](f_a) (seed: projector_recipes.a.b applied to f_a). */
export function projectComponents(
  params: ParamReader, features: Record<ComponentName, tf.Tensor2D>,
): Record<ProjectionKey, tf.Tensor2D> {
  const out = {} as Record<ProjectionKey, tf.Tensor2D>;
  for (const [from, to] of PROJECTION_PAIRS) {
    out[projectionKey(from, to)] = linearNamed(params, `projector_recipes.${from}.${to}`, features[from]) as tf.Tensor2D;
  }
  return out;
}
