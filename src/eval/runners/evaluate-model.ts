import path from 'node:path';
import { RecipeDataset } from '../../data/dataset.js';
import type { Recipe, Split } from '../../data/recipe.js';
import { openFeatureCache } from '../../features/cache-reader.js';
import { encodeAll, loadPairs } from '../../train/pairs.js';
import { UserError } from '../../util/errors.js';
import { embedImageRows, embedRecipeList } from '../embed-pairs.js';
import { rankSplit, type EvaluationReport } from '../report.js';
import type { ModelSource } from './model-source.js';

export interface EvaluateOptions {
  root: string;
  split: Split;
  /** Pairs per subset; undefined: 1000, or every pair when the split has fewer. */
  n?: number | 'all';
  runs: number;
  seed: number;
  withNoImages: boolean;
  cacheDir?: string;
  log: (line: string) => void;
}

/** --with-noimages needs the split's text-only recipes. */
export async function readTextOnlyForGallery(dataset: RecipeDataset, split: Split): Promise<Recipe[]> {
  const textOnly = await dataset.readTextOnly(split);
  if (textOnly.length === 0) throw new UserError(`${dataset.splitFile(split, true)}: no text-only recipes for --with-noimages`);
  return textOnly;
}

/** Embed a split's pairs (view 0 features) with the model and rank them (DESIGN "Evaluation protocol"). */
export async function evaluateModel(source: ModelSource, opts: EvaluateOptions): Promise<EvaluationReport> {
  const started = performance.now();
  const dataset = await RecipeDataset.open(opts.root);
  const cacheDir = opts.cacheDir ?? path.join(opts.root, '.cache', 'features');
  const base = await openFeatureCache(cacheDir, opts.split, 0);
  try {
    if (source.backboneHash && base.backboneHash !== source.backboneHash) {
      opts.log(`warning: the ${opts.split} features come from other backbone weights than the model was trained on`);
    }
    const pairs = await loadPairs(dataset, opts.split, source.vocab, base);
    if (pairs.withoutFeatures.length) {
      opts.log(`warning: ${pairs.withoutFeatures.length} ${opts.split} pair(s) have no cached features and are left out`);
    }
    const images = embedImageRows(source.model, pairs.keys.map((key) => ({ cache: base, key })));
    const recipes = embedRecipeList(source.model, pairs.recipes);
    const extra = opts.withNoImages ? embedRecipeList(source.model, encodeAll(await readTextOnlyForGallery(dataset, opts.split), source.vocab)) : undefined;
    const ranked = await rankSplit({ images, recipes, extra }, opts);
    return {
      model: source.about,
      split: opts.split,
      pairs: pairs.ids.length,
      pairsWithoutFeatures: pairs.withoutFeatures.length,
      seed: opts.seed,
      ...ranked,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    base.close();
  }
}
