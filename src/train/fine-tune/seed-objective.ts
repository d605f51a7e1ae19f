import * as tf from '@tensorflow/tfjs';
import { COMPONENTS, projectionKey } from '../../model/components.js';
import type { ModelOutputs } from '../../model/forward.js';
import { asymmetricLoss, tripletLoss, type AsymmetricLossOptions } from '../losses.js';

/** The seed scripts' loss arguments (args.cls_weight, retrieval_weight, margin, the ASL ones). */
export interface SeedObjective {
  classificationWeight: number;
  retrievalWeight: number;
  margin: number;
  asl: AsymmetricLossOptions;
}

/**
 * The loss exactly as train_retrieval.py / train_debiasing.py compose it, every term named as the
 * training-step goldens name it:
 *   loss = ASL * cls_weight + T(img, rec) * retrieval_weight + (sum of six recipe terms / 6) * retrieval_weight.
 * The class term stays in the graph even with cls_weight 0 (stage 1), so the classifier gets
 * gradients that are exactly zero (not none) and AdamW still steps (decays) it, as in the seed.
 */
export function seedLossTerms(outputs: ModelOutputs, targets: tf.Tensor2D, objective: SeedObjective): Map<string, tf.Scalar> {
  const image = outputs.image;
  const recipe = outputs.recipe;
  if (!image?.logits || !recipe) throw new Error('the seed objective needs image logits and the recipe side');
  const terms = new Map<string, tf.Scalar>();
  const asl = asymmetricLoss(image.logits, targets, objective.asl);
  terms.set('asl', asl);
  const lossCls = tf.mul(asl, objective.classificationWeight) as tf.Scalar;
  terms.set('loss_cls', lossCls);
  const imageSide = image.debiased?.embedding ?? image.embedding;
  const triplet = tripletLoss(imageSide, recipe.embedding, objective.margin);
  terms.set('triplet_image_recipe', triplet);
  const lossRanking = tf.mul(triplet, objective.retrievalWeight) as tf.Scalar;
  terms.set('loss_ranking', lossRanking);
  // Anchor: the raw feature of `raw`; positive side: another component projected into its space.
  let running: tf.Scalar | undefined;
  let count = 0;
  const sums: tf.Scalar[] = [];
  for (const raw of COMPONENTS) {
    for (const proj of COMPONENTS) {
      if (proj === raw) continue;
      const term = tripletLoss(recipe.features[raw], recipe.projections[projectionKey(proj, raw)], objective.margin);
      terms.set(`recipe_${raw}_vs_${proj}_to_${raw}`, term);
      running = running ? (tf.add(running, term) as tf.Scalar) : term;
      count++;
      sums.push(running);
    }
  }
  sums.forEach((s, i) => terms.set(`recipe_running_sum_${i + 1}`, s));
  const lossRecipe = tf.mul(tf.div(running!, count), objective.retrievalWeight) as tf.Scalar;
  terms.set('loss_recipe', lossRecipe);
  terms.set('total', tf.add(tf.add(lossCls, lossRanking), lossRecipe) as tf.Scalar);
  return terms;
}
