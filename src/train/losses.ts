import * as tf from '@tensorflow/tfjs';
import { COMPONENTS, projectionKey, type ComponentName, type ProjectionKey } from '../model/components.js';
import type { ModelOutputs } from '../model/forward.js';
import { withoutGradient } from '../model/without-gradient.js';

export const TRIPLET_MARGIN = 0.3;

/** F.normalize: x / max(||x||, 1e-12) along the last axis. */
function l2Normalise(x: tf.Tensor2D): tf.Tensor2D {
  const norm = tf.sqrt(tf.sum(tf.square(x), -1, true));
  return tf.div(x, tf.maximum(norm, 1e-12)) as tf.Tensor2D;
}

/**
 * Bidirectional triplet loss on cosine distance over all in-batch pairs (HT's TripletLoss):
 * D_ij = 1 - cos(x_i, y_j); mean over the B x B grid, diagonal zeroed, of
 * max(0, m + D_ii - D_ij) + max(0, m + D_jj - D_ij).
 */
export function tripletLoss(x: tf.Tensor2D, y: tf.Tensor2D, margin = TRIPLET_MARGIN): tf.Scalar {
  return tf.tidy(() => {
    const distance = tf.sub(1, tf.matMul(l2Normalise(x), l2Normalise(y), false, true)) as tf.Tensor2D;
    const b = distance.shape[0];
    const diagonal = tf.reshape(tf.sum(tf.mul(distance, tf.eye(b)), 1), [b, 1]);
    const rowAnchor = tf.relu(tf.add(tf.sub(diagonal, distance), margin)); // D_ii - D_ij
    const colAnchor = tf.relu(tf.add(tf.sub(tf.transpose(diagonal), distance), margin)); // D_jj - D_ij
    const offDiagonal = tf.sub(1, tf.eye(b));
    return tf.mean(tf.mul(tf.add(rowAnchor, colAnchor), offDiagonal)) as tf.Scalar;
  });
}

/**
 * HT's recipe self-supervised loss: mean over ordered pairs (a, b), a != b, of
 * L_tri(f_a, P[b->a](f_b)) — the raw feature of a against b's projection into a's space.
 */
export function recipeSelfSupervisedLoss(
  features: Record<ComponentName, tf.Tensor2D>, projections: Record<ProjectionKey, tf.Tensor2D>,
  margin = TRIPLET_MARGIN,
): tf.Scalar {
  return tf.tidy(() => {
    const terms: tf.Scalar[] = [];
    for (const a of COMPONENTS) {
      for (const b of COMPONENTS) {
        if (a !== b) terms.push(tripletLoss(features[a], projections[projectionKey(b, a)], margin));
      }
    }
    return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
  });
}

export interface AsymmetricLossOptions {
  gammaNeg: number;
  gammaPos: number;
  /** Probability shift for negatives (query2labels loss_clip); the seed uses 0 (off). */
  clip: number;
  eps: number;
}

export const SEED_ASL: AsymmetricLossOptions = { gammaNeg: 2, gammaPos: 0, clip: 0, eps: 1e-5 };

/**
 * query2labels' AsymmetricLossOptimized with the focusing weight computed without gradient:
 * -sum(w * [y log(max(p, eps)) + (1-y) log(max(1-p, eps))]) * 1000 / (B * C),
 * w = (1 - p y - (1-p)(1-y)) ^ (gamma+ y + gamma- (1-y)).
 */
export function asymmetricLoss(
  logits: tf.Tensor2D, targets: tf.Tensor2D, options: AsymmetricLossOptions = SEED_ASL,
): tf.Scalar {
  return tf.tidy(() => {
    const [b, c] = logits.shape;
    const y = tf.cast(targets, 'float32');
    const antiY = tf.sub(1, y);
    const pPos = tf.sigmoid(logits);
    let pNeg = tf.sub(1, pPos);
    if (options.clip > 0) pNeg = tf.minimum(tf.add(pNeg, options.clip), 1);
    const logLikelihood = tf.add(
      tf.mul(y, tf.log(tf.maximum(pPos, options.eps))),
      tf.mul(antiY, tf.log(tf.maximum(pNeg, options.eps))),
    );
    // The focusing weight is a constant for backprop (query2labels' disable_torch_grad_focal_loss).
    const weight = withoutGradient(pPos, (p) => {
      const q = options.clip > 0 ? tf.minimum(tf.add(tf.sub(1, p), options.clip), 1) : tf.sub(1, p);
      return tf.pow(
        tf.sub(tf.sub(1, tf.mul(p, y)), tf.mul(q, antiY)),
        tf.add(tf.mul(y, options.gammaPos), tf.mul(antiY, options.gammaNeg)),
      );
    });
    return tf.mul(tf.sum(tf.mul(logLikelihood, weight)), -1000 / (b * c)) as tf.Scalar;
  });
}

export interface TrainingLossOptions {
  /** Multi-hot ingredient labels [N, K]; needed when classificationWeight > 0. */
  targets?: tf.Tensor2D;
  /** Stage 1: 0; stage 2: 0.001 (seed's cls_weight). */
  classificationWeight: number;
  recipeWeight?: number;
  margin?: number;
}

export interface TrainingLoss {
  total: tf.Scalar;
  retrieval?: tf.Scalar;
  recipe?: tf.Scalar;
  classification?: tf.Scalar;
}

/**
 * The stage objective: L = w_cls L_cls + L_tri(image, e_R) + w_rec L_rec, where the image side is
 * ẽ_I when the forward debiased and e_I otherwise. A text-only batch gets L_rec alone.
 */
export function trainingLoss(outputs: ModelOutputs, options: TrainingLossOptions): TrainingLoss {
  const margin = options.margin ?? TRIPLET_MARGIN;
  const parts: TrainingLoss = { total: tf.scalar(0) };
  const terms: tf.Scalar[] = [];
  if (outputs.recipe) {
    parts.recipe = recipeSelfSupervisedLoss(outputs.recipe.features, outputs.recipe.projections, margin);
    terms.push(tf.mul(parts.recipe, options.recipeWeight ?? 1) as tf.Scalar);
  }
  if (outputs.image && outputs.recipe) {
    const imageSide = outputs.image.debiased?.embedding ?? outputs.image.embedding;
    parts.retrieval = tripletLoss(imageSide, outputs.recipe.embedding, margin);
    terms.push(parts.retrieval);
  }
  if (options.classificationWeight > 0) {
    if (!outputs.image?.logits || !options.targets) {
      throw new Error('classification loss needs classifier logits and target labels');
    }
    parts.classification = asymmetricLoss(outputs.image.logits, options.targets);
    terms.push(tf.mul(parts.classification, options.classificationWeight) as tf.Scalar);
  }
  parts.total.dispose();
  parts.total = terms.length ? (tf.addN(terms) as tf.Scalar) : tf.scalar(0);
  return parts;
}
