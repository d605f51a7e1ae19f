import type { Split } from '../recipe.js';
import { parseIngredientLine } from './ingredient-parser.js';
import type { SplitLines } from './read-splits.js';

/** An ingredient name and the number of training recipes that list it. */
export interface NameCount {
  name: string;
  count: number;
}

export interface SplitCoverage {
  split: Split;
  recipes: number;
  /** Recipes with at least one labelled line. */
  recipesWithLabel: number;
  recipeShare: number;
  lines: number;
  /** Lines the parser found a name in (labelled or not). */
  parsedLines: number;
  labelledLines: number;
  lineShare: number;
}

export interface LabelCoverage {
  /** Distinct names found in the training split. */
  distinctNames: number;
  /** Labels actually assigned: min(K, distinctNames). */
  numLabels: number;
  /** Training-recipe count of the last kept name (the K-th), or null when no name was found. */
  kthCount: number | null;
  splits: SplitCoverage[];
}

/**
 * The three label tables of the seed, as Maps ready for writePickleFile:
 * - ing2label: name (str) -> label (int 0..numLabels-1); label 0 is the most frequent name.
 * - id2labels: per split, recipe id (str) -> ascending unique labels (list of int). Every recipe of
 *   the split has an entry, an empty list when none of its lines got a label.
 * - id2pos: train recipe id (str) -> {ingredient line index (int) -> label (int)}, a Python dict per
 *   recipe holding only the lines that got a label. Indices count from 0 over the recipe's full
 *   ingredient list (before the 20-line truncation the model applies). Every train recipe has an entry.
 */
export interface LabelTables {
  topK: number;
  /** Kept names in label order, with their training counts. */
  ranked: NameCount[];
  ing2label: Map<string, number>;
  id2labels: Map<Split, Map<string, number[]>>;
  id2pos: Map<string, Map<number, number>>;
  coverage: LabelCoverage;
}

type Parser = (line: string) => string | null;

/**
 * Rank names by the number of training recipes that list them (a recipe that lists "salt" twice
 * counts once, since labels mark presence per recipe); ties go to the name that sorts first.
 */
export function rankNames(parsedTrain: (string | null)[][]): NameCount[] {
  const counts = new Map<string, number>();
  for (const names of parsedTrain) {
    for (const name of new Set(names)) if (name !== null) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts]
    .map(([name, count]) => ({ name, count }))
    .sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Build the label tables from the ingredient lines of every split; names are counted on train only. */
export function buildLabelTables(splits: SplitLines[], topK: number, parse: Parser = parseIngredientLine): LabelTables {
  if (!Number.isInteger(topK) || topK < 1) throw new RangeError(`topK must be a positive integer, got ${topK}`);
  // Recipe1M repeats lines ("1 cup sugar") across recipes: parse each distinct line once.
  const memo = new Map<string, string | null>();
  const parseOnce = (line: string) => {
    let name = memo.get(line);
    if (name === undefined) memo.set(line, (name = parse(line)));
    return name;
  };
  const parsed = new Map(splits.map((s) => [s.split, s.recipes.map((r) => r.ingredients.map(parseOnce))]));
  const allRanked = rankNames(parsed.get('train') ?? []);
  const ranked = allRanked.slice(0, topK);
  const ing2label = new Map(ranked.map((r, label) => [r.name, label]));

  const id2labels = new Map<Split, Map<string, number[]>>();
  const id2pos = new Map<string, Map<number, number>>();
  const splitCoverage: SplitCoverage[] = [];
  for (const { split, recipes } of splits) {
    const names = parsed.get(split)!;
    const labelsById = new Map<string, number[]>();
    let recipesWithLabel = 0;
    let lines = 0;
    let parsedLines = 0;
    let labelledLines = 0;
    recipes.forEach((recipe, r) => {
      const positions = new Map<number, number>();
      names[r].forEach((name, index) => {
        lines++;
        if (name === null) return;
        parsedLines++;
        const label = ing2label.get(name);
        if (label === undefined) return;
        labelledLines++;
        positions.set(index, label);
      });
      const labels = [...new Set(positions.values())].sort((a, b) => a - b);
      if (labels.length > 0) recipesWithLabel++;
      labelsById.set(recipe.id, labels);
      if (split === 'train') id2pos.set(recipe.id, positions);
    });
    id2labels.set(split, labelsById);
    splitCoverage.push({
      split,
      recipes: recipes.length,
      recipesWithLabel,
      recipeShare: recipes.length ? recipesWithLabel / recipes.length : 0,
      lines,
      parsedLines,
      labelledLines,
      lineShare: lines ? labelledLines / lines : 0,
    });
  }
  return {
    topK,
    ranked,
    ing2label,
    id2labels,
    id2pos,
    coverage: {
      distinctNames: allRanked.length,
      numLabels: ranked.length,
      kthCount: ranked.length ? ranked[ranked.length - 1].count : null,
      splits: splitCoverage,
    },
  };
}
