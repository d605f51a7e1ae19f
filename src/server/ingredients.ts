/** One ingredient label as the classifier sees the photo. */
export interface PredictedIngredient {
  name: string;
  probability: number;
  /** probability >= the keep threshold: the label the debiasing uses. */
  present: boolean;
}

/**
 * The labels at or above `threshold` (those the backdoor adjustment keeps), then the next `extra`
 * best, so that a photo where nothing reaches the threshold still shows what the model leans to.
 * Best first.
 */
export function predictIngredients(logits: Float32Array, labels: readonly string[], threshold = 0.5, extra = 5): PredictedIngredient[] {
  if (logits.length !== labels.length) throw new Error(`${logits.length} ingredient logits for ${labels.length} label names`);
  const all = labels.map((name, i) => {
    const probability = 1 / (1 + Math.exp(-logits[i]));
    return { name, probability, present: probability >= threshold };
  });
  all.sort((a, b) => b.probability - a.probability);
  const present = all.filter((p) => p.present).length;
  return all.slice(0, present + extra);
}
