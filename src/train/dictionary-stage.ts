import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RecipeDataset } from '../data/dataset.js';
import { formatDuration } from '../features/progress.js';
import { UserError } from '../util/errors.js';
import { portablePath, resolveRecordedPath } from '../util/portable-path.js';
import { buildDictionary } from './dictionary.js';
import { saveDictionary, type DictionaryMeta } from './dictionary-files.js';
import { checkSameLabels, loadLabelNames, loadLinePositions } from './label-data.js';
import { loadModelFolder } from './model-folder.js';
import { runPaths } from './run-files.js';

export interface DictionaryStageOptions {
  /** The stage-1 run folder; D is written to its dictionary/. */
  run: string;
  root: string;
  labelsDir?: string;
  batchSize?: number;
  log: (line: string) => void;
}

export interface DictionaryStageSummary {
  file: string;
  labels: number;
  width: number;
  recipes: number;
  recipesWithoutPositions: number;
  linesUsed: number;
  linesBeyondLimit: number;
  emptyLabels: string[];
  /** Line vectors per label: smallest, median, largest. */
  countRange: { min: number; median: number; max: number };
  seconds: number;
}

/** Stage 2a: average the stage-1 model's ingredient line vectors per label over the training split. */
export async function runDictionaryStage(opts: DictionaryStageOptions): Promise<DictionaryStageSummary> {
  const started = performance.now();
  const model = await loadModelFolder(opts.run);
  try {
    if (model.params.has('Wv.weight')) throw new UserError(`${opts.run}: the dictionary is built from a stage-1 (baseline) model; this one is stage 2`);
    const labelsDir = path.resolve(opts.labelsDir ?? (model.info?.labelsDir ? resolveRecordedPath(model.info.labelsDir) : opts.root));
    const labels = await loadLabelNames(labelsDir);
    checkSameLabels(model.labelNames, labels.names, labels.file);
    const positions = await loadLinePositions(labelsDir, labels.names.length);
    const dataset = await RecipeDataset.open(opts.root);
    // id2pos covers every training recipe, with a photo or not.
    const recipes = [...(await dataset.readPaired('train')), ...(await dataset.readTextOnly('train'))];
    let lastLog = 0;
    const result = buildDictionary({
      params: model.params, config: model.config, vocab: model.vocab, recipes, positions, batchSize: opts.batchSize,
      onBatch: (done, total) => {
        if (done === total || performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          opts.log(`dictionary: ${done}/${total} recipes, ${formatDuration((performance.now() - started) / 1000)}`);
        }
      },
    });
    const width = model.config.recipe.width;
    const meta: DictionaryMeta = {
      kind: 'ingredient-dictionary',
      labelNames: labels.names,
      counts: result.counts,
      emptyLabels: result.emptyLabels,
      recipes: recipes.length,
      recipesWithoutPositions: result.recipesWithoutPositions,
      linesUsed: result.linesUsed,
      linesBeyondLimit: result.linesBeyondLimit,
      model: { checkpoint: portablePath(model.checkpointDir), epoch: model.meta.epoch, vocabSha256: model.meta.vocabSha256 },
      createdAt: new Date().toISOString(),
    };
    const dir = runPaths(model.dir).dictionary;
    const d = tf.tensor2d(result.values, [labels.names.length, width], 'float32');
    try {
      await saveDictionary(dir, d, meta);
    } finally {
      d.dispose();
    }
    const sorted = [...result.counts].sort((a, b) => a - b);
    return {
      file: dir,
      labels: labels.names.length,
      width,
      recipes: recipes.length,
      recipesWithoutPositions: result.recipesWithoutPositions,
      linesUsed: result.linesUsed,
      linesBeyondLimit: result.linesBeyondLimit,
      emptyLabels: result.emptyLabels.map((c) => labels.names[c]),
      countRange: { min: sorted[0], median: sorted[sorted.length >> 1], max: sorted[sorted.length - 1] },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    model.dispose();
  }
}
