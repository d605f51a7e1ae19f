import { evaluateRetrieval, type DirectionResult } from '../eval/protocol.js';
import type { RankMetrics } from '../eval/metrics.js';
import type { FeatureCache } from '../features/cache-reader.js';
import type { Hyperparameters, SelectionMetric } from './hyperparameters.js';
import type { DirectionPair, ValidationMetrics } from './metrics-log.js';
import { embedImageRows, embedRecipeList, type RetrievalModel } from '../eval/embed-pairs.js';
import type { PairSet } from './pairs.js';

/** How best/ is chosen, in words, for run.json. */
export function selectionRule(metric: SelectionMetric): string {
  const what = metric === 'r1'
    ? 'image->recipe R@1; ties: higher R@5, then higher R@10, then lower medR'
    : 'rsum = R@1+R@5+R@10 of image->recipe plus recipe->image; ties: higher image->recipe R@1';
  return `${what}; on the validation pairs (view 0), mean over valRuns fixed subsets of valN pairs ` +
    '(every pair once when the split has no more than valN); stage 2 ranks with the debiased ẽ_I; ' +
    'still tied: the earlier epoch stays';
}

function strip(m: DirectionResult): RankMetrics {
  return { medR: m.medR, r1: m.r1, r5: m.r5, r10: m.r10 };
}

/** The directions selection looks at: debiased (stage 2) when present. */
function selectedPair(v: ValidationMetrics): DirectionPair {
  return v.debiased ?? v;
}

function rsum(p: DirectionPair): number {
  const one = (m: RankMetrics) => m.r1 + m.r5 + m.r10;
  return one(p.imageToRecipe) + one(p.recipeToImage);
}

/** Rank the validation pairs with the model in eval mode. */
export async function validate(
  model: RetrievalModel, pairs: PairSet, base: FeatureCache,
  h: Pick<Hyperparameters, 'valN' | 'valRuns' | 'valSeed' | 'selectBy'>,
): Promise<ValidationMetrics> {
  const images = embedImageRows(model, pairs.keys.map((key) => ({ cache: base, key })));
  const recipes = embedRecipeList(model, pairs.recipes);
  const n = h.valN === 'all' || h.valN >= pairs.ids.length ? 'all' : h.valN;
  const options = { n, runs: h.valRuns, seed: h.valSeed } as const;
  const plain = await evaluateRetrieval(images.plain, recipes, options);
  const result: ValidationMetrics = {
    pairs: pairs.ids.length,
    n: plain.n,
    runs: plain.runs,
    imageToRecipe: strip(plain.imageToRecipe),
    recipeToImage: strip(plain.recipeToImage),
    selection: 0,
  };
  if (images.debiased) {
    const debiased = await evaluateRetrieval(images.debiased, recipes, options);
    result.debiased = { imageToRecipe: strip(debiased.imageToRecipe), recipeToImage: strip(debiased.recipeToImage) };
  }
  const selected = selectedPair(result);
  result.selection = h.selectBy === 'rsum' ? rsum(selected) : selected.imageToRecipe.r1;
  return result;
}

/** Whether `candidate` should replace `best` (see selectionRule). */
export function isBetter(candidate: ValidationMetrics, best: ValidationMetrics | undefined, metric: SelectionMetric = 'r1'): boolean {
  if (!best) return true;
  const c = selectedPair(candidate);
  const b = selectedPair(best);
  if (metric === 'rsum') {
    if (rsum(c) !== rsum(b)) return rsum(c) > rsum(b);
    return c.imageToRecipe.r1 > b.imageToRecipe.r1;
  }
  const ci = c.imageToRecipe;
  const bi = b.imageToRecipe;
  if (ci.r1 !== bi.r1) return ci.r1 > bi.r1;
  if (ci.r5 !== bi.r5) return ci.r5 > bi.r5;
  if (ci.r10 !== bi.r10) return ci.r10 > bi.r10;
  return ci.medR < bi.medR;
}
