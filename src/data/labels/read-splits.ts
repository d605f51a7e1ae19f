import { RecipeDataset } from '../dataset.js';
import { SPLITS, type Split } from '../recipe.js';
import { DataFileError, UserError } from '../../util/errors.js';

/** The ingredient lines of one recipe: all that label building needs. */
export interface RecipeLines {
  id: string;
  ingredients: string[];
}

/** The recipes of one split: paired ones first, then text-only ones (`{split}_noimages.pkl`). */
export interface SplitLines {
  split: Split;
  recipes: RecipeLines[];
}

/**
 * Read the ingredient lines of every split present in a Recipe1M-layout dataset. A split is present
 * when `{split}.pkl` or `{split}_noimages.pkl` exists; train must be present, since names are counted there.
 * Text-only recipes count as much as paired ones: labels come from text only.
 */
export async function readSplitLines(root: string): Promise<SplitLines[]> {
  const dataset = await RecipeDataset.open(root);
  const splits: SplitLines[] = [];
  for (const split of SPLITS) {
    const hasPaired = await dataset.hasSplit(split);
    const hasTextOnly = await dataset.hasSplit(split, true);
    if (!hasPaired && !hasTextOnly) continue;
    const paired = hasPaired ? await dataset.readPaired(split) : [];
    const textOnly = await dataset.readTextOnly(split);
    const seen = new Set(paired.map((r) => r.id));
    const clash = textOnly.find((r) => seen.has(r.id));
    if (clash) {
      throw new DataFileError(dataset.splitFile(split, true), `recipe ${clash.id} is also in ${dataset.splitFile(split)}; a recipe id must be unique within a split`);
    }
    splits.push({ split, recipes: [...paired, ...textOnly].map(({ id, ingredients }) => ({ id, ingredients })) });
  }
  if (!splits.some((s) => s.split === 'train')) {
    throw new UserError(`${root}: no train.pkl or train_noimages.pkl; ingredient names are counted on the training split`);
  }
  return splits;
}
