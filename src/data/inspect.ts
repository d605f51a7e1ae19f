import { RecipeDataset } from './dataset.js';
import { findIng2LabelFile, id2LabelsFile, readId2Labels, readIng2Label } from './label-files.js';
import { SPLITS, type Recipe, type Split } from './recipe.js';
import type { Vocabulary } from './text/vocabulary.js';
import { tokenizeForVocab } from './text/tokenize.js';
import { promises as fs } from 'node:fs';

export interface SplitReport {
  split: Split;
  /** Recipes in `<split>.pkl` (the ones with a photo). */
  pairedRecipes: number;
  /** Recipes in `<split>_noimages.pkl` (0 when the file is absent). */
  textOnlyRecipes: number;
  /** Paired recipes that list at least one image name. */
  recipesWithImages: number;
  /** Every image name listed by the paired recipes, checked on disk. */
  imageFiles: { listed: number; found: number; missing: number; missingExamples: string[] };
  /** Paired recipes whose first image (the one used) is missing. */
  recipesMissingFirstImage: number;
  meanIngredientLines: number;
  meanInstructions: number;
  vocabCoverage?: { tokens: number; known: number; share: number };
  labelCoverage?: { recipes: number; withLabels: number; share: number; meanLabels: number };
}

export interface DatasetReport {
  root: string;
  imageRoot: string;
  vocabulary?: string;
  labels?: { file: string; numLabels: number };
  splits: SplitReport[];
  totals: { pairedRecipes: number; textOnlyRecipes: number; imagesFound: number; imagesMissing: number };
}

/** Statistics of a Recipe1M-layout dataset; splits whose pickle is absent are skipped. */
export async function inspectDataset(root: string, opts: { vocab?: Vocabulary; vocabFile?: string } = {}): Promise<DatasetReport> {
  const dataset = await RecipeDataset.open(root);
  const labelFile = await findIng2LabelFile(root);
  const labelNames = labelFile ? await readIng2Label(labelFile) : undefined;
  const splits: SplitReport[] = [];
  for (const split of SPLITS) {
    if (!(await dataset.hasSplit(split))) continue;
    const paired = await dataset.readPaired(split);
    const textOnly = await dataset.readTextOnly(split);
    const all = [...paired, ...textOnly];
    const images = await dataset.checkImages(split, paired, 'all');
    // First images are among all images: the one stat pass answers both questions.
    const firstMissing = new Set(images.missing);
    const report: SplitReport = {
      split,
      pairedRecipes: paired.length,
      textOnlyRecipes: textOnly.length,
      recipesWithImages: paired.filter((r) => r.images.length > 0).length,
      imageFiles: { listed: images.listed, found: images.found, missing: images.missing.length, missingExamples: images.missing.slice(0, 5) },
      recipesMissingFirstImage: paired.filter((r) => r.images.length === 0 || firstMissing.has(r.images[0])).length,
      meanIngredientLines: mean(all.map((r) => r.ingredients.length)),
      meanInstructions: mean(all.map((r) => r.instructions.length)),
    };
    if (opts.vocab) report.vocabCoverage = vocabCoverage(all, opts.vocab);
    if (labelNames) {
      const file = id2LabelsFile(root, split);
      if (await fs.stat(file).catch(() => undefined)) {
        const id2labels = await readId2Labels(file, labelNames.length);
        const withLabels = all.filter((r) => (id2labels.get(r.id)?.length ?? 0) > 0);
        report.labelCoverage = {
          recipes: all.length,
          withLabels: withLabels.length,
          share: all.length ? withLabels.length / all.length : 0,
          meanLabels: mean(all.map((r) => id2labels.get(r.id)?.length ?? 0)),
        };
      }
    }
    splits.push(report);
  }
  return {
    root,
    imageRoot: dataset.imageRoot,
    vocabulary: opts.vocabFile,
    labels: labelFile && labelNames ? { file: labelFile, numLabels: labelNames.length } : undefined,
    splits,
    totals: {
      pairedRecipes: sum(splits.map((s) => s.pairedRecipes)),
      textOnlyRecipes: sum(splits.map((s) => s.textOnlyRecipes)),
      imagesFound: sum(splits.map((s) => s.imageFiles.found)),
      imagesMissing: sum(splits.map((s) => s.imageFiles.missing)),
    },
  };
}

/** Share of title/ingredient/instruction tokens that the vocabulary knows (not `<unk>`). */
function vocabCoverage(recipes: Recipe[], vocab: Vocabulary): { tokens: number; known: number; share: number } {
  let tokens = 0;
  let known = 0;
  for (const r of recipes) {
    for (const text of [r.title, ...r.ingredients, ...r.instructions]) {
      for (const word of tokenizeForVocab(text.toLowerCase())) {
        tokens += 1;
        if (vocab.has(word)) known += 1;
      }
    }
  }
  return { tokens, known, share: tokens ? known / tokens : 0 };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function mean(xs: number[]): number {
  return xs.length ? sum(xs) / xs.length : 0;
}
