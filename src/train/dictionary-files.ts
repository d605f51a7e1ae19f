import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import { DataFileError } from '../util/errors.js';
import { loadCheckpoint, saveCheckpoint } from '../model-format/checkpoint.js';

export const DICTIONARY_GROUP = 'dictionary';
export const DICTIONARY_TENSOR = 'D';

/** What the dictionary checkpoint records besides D itself. */
export interface DictionaryMeta {
  kind: 'ingredient-dictionary';
  labelNames: string[];
  /** Line vectors averaged into each row. */
  counts: number[];
  /** Labels without a single line vector: their row is all zeros. */
  emptyLabels: number[];
  recipes: number;
  recipesWithoutPositions: number;
  linesUsed: number;
  /** Labelled lines past the model's 20-line limit (no line vector exists for them). */
  linesBeyondLimit: number;
  /** The model whose line vectors were averaged. */
  model: { checkpoint: string; epoch: number; vocabSha256: string };
  createdAt: string;
}

export async function saveDictionary(dir: string, dictionary: tf.Tensor2D, meta: DictionaryMeta): Promise<void> {
  await saveCheckpoint(dir, { [DICTIONARY_GROUP]: new Map([[DICTIONARY_TENSOR, dictionary]]) }, meta);
}

/** Load D and check it fits the model (K labels in the same order, recipe width columns). */
export async function loadDictionary(
  dir: string, config: ModelConfig, labelNames: readonly string[],
): Promise<{ dictionary: tf.Tensor2D; meta: DictionaryMeta }> {
  const loaded = await loadCheckpoint<DictionaryMeta>(dir, [DICTIONARY_GROUP]);
  const file = path.join(dir, 'checkpoint.json');
  const d = loaded.groups.get(DICTIONARY_GROUP)?.get(DICTIONARY_TENSOR);
  if (!d || loaded.manifest.meta.kind !== 'ingredient-dictionary') {
    d?.dispose();
    throw new DataFileError(file, 'not an ingredient dictionary checkpoint');
  }
  const [k, width] = d.shape;
  if (d.rank !== 2 || k !== config.classifier.labels || width !== config.recipe.width) {
    d.dispose();
    throw new DataFileError(file, `dictionary has shape [${d.shape}], the model needs [${config.classifier.labels}, ${config.recipe.width}]`);
  }
  const names = loaded.manifest.meta.labelNames;
  if (names.length !== labelNames.length || names.some((n, i) => n !== labelNames[i])) {
    d.dispose();
    throw new DataFileError(file, 'dictionary was built for other ingredient labels than the model\'s');
  }
  return { dictionary: d as tf.Tensor2D, meta: loaded.manifest.meta };
}
