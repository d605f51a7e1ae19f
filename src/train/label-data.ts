import { promises as fs } from 'node:fs';
import {
  findIng2LabelFile, id2LabelsFile, id2PosFile, readId2Labels, readId2Pos, readIng2Label,
} from '../data/label-files.js';
import type { Split } from '../data/recipe.js';
import { UserError } from '../util/errors.js';

/** The ingredient label names of a label folder (index = label). */
export async function loadLabelNames(labelsDir: string): Promise<{ file: string; names: string[] }> {
  const file = await findIng2LabelFile(labelsDir);
  if (!file) {
    throw new UserError(`${labelsDir}: no ing2label_topk*.pkl label file (run: recipe-retrieval prepare-labels <root> --top-k K)`);
  }
  return { file, names: await readIng2Label(file) };
}

async function requireFile(file: string): Promise<void> {
  if (!(await fs.stat(file).catch(() => undefined))?.isFile()) {
    throw new UserError(`${file}: label file not found (run: recipe-retrieval prepare-labels <root> --top-k K)`);
  }
}

/** id2labels of a split, checked against the label count. */
export async function loadRecipeLabels(labelsDir: string, split: Split, numLabels: number): Promise<Map<string, number[]>> {
  const file = id2LabelsFile(labelsDir, split);
  await requireFile(file);
  return readId2Labels(file, numLabels);
}

/** id2pos_train: recipe id -> {ingredient line index -> label}. */
export async function loadLinePositions(labelsDir: string, numLabels: number): Promise<Map<string, Map<number, number>>> {
  const file = id2PosFile(labelsDir);
  await requireFile(file);
  return readId2Pos(file, numLabels);
}

/** Fail unless two label name lists are the same labels in the same order. */
export function checkSameLabels(expected: readonly string[], actual: readonly string[], what: string): void {
  const same = expected.length === actual.length && expected.every((n, i) => n === actual[i]);
  if (!same) {
    const i = expected.findIndex((n, k) => n !== actual[k]);
    throw new UserError(
      `${what}: ingredient labels differ from the model's (${actual.length} vs ${expected.length} labels` +
      `${i >= 0 ? `; label ${i} is "${actual[i]}" vs "${expected[i]}"` : ''}); use the label files the model was trained with`,
    );
  }
}
