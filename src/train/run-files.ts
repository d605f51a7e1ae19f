import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { writeFileAtomic } from '../util/atomic.js';
import { DataFileError } from '../util/errors.js';
import type { Hyperparameters, Stage } from './hyperparameters.js';
import type { EpochMetrics } from './metrics-log.js';
import { parseJsonText, readJsonFile } from '../util/json-file.js';

/**
 * A run (or model) folder:
 *   run.json       what produced it (stage, config, data, vocab, labels, hyperparameters, best epoch)
 *   vocab.pkl      the vocabulary the word embedding is indexed by
 *   labels.json    ingredient label names, index = label
 *   metrics.jsonl  one line per epoch; curves.svg the same as a picture
 *   last/          checkpoint of the latest epoch, with optimizer state (resume)
 *   best/          weights of the epoch with the best validation score (what later stages load)
 *   dictionary/    the ingredient dictionary D (stage 2a output; copied into stage-2 runs)
 */
export function runPaths(dir: string) {
  return {
    dir,
    runJson: path.join(dir, 'run.json'),
    vocab: path.join(dir, 'vocab.pkl'),
    labels: path.join(dir, 'labels.json'),
    metrics: path.join(dir, 'metrics.jsonl'),
    curves: path.join(dir, 'curves.svg'),
    last: path.join(dir, 'last'),
    best: path.join(dir, 'best'),
    dictionary: path.join(dir, 'dictionary'),
  };
}

export const RUN_FORMAT = 'recipe-retrieval-run';

export interface RunInfo {
  format: typeof RUN_FORMAT;
  version: 1;
  stage: Stage;
  preset: string;
  /** Model sizes as trained (preset plus --config overrides, backbone channels from the features). */
  config: ModelConfig;
  backend: string;
  datasetRoot: string;
  labelsDir: string;
  /** Feature cache read, and the hash of the backbone weights that made it (evaluation checks it). */
  features: { cacheDir: string; backboneHash: string };
  vocab: { file: 'vocab.pkl'; source: string; sha256: string; words: number; builtWithMinCount?: number };
  labels: { file: 'labels.json'; source: string; count: number; names: string[] };
  seed: number;
  hyperparameters: Hyperparameters;
  /** Augmented train views drawn from (1..views; 0 = only the centre crop). */
  views: number;
  trainPairs: number;
  valPairs: number;
  /** Trainable parameters (backbone excluded). */
  parameters: number;
  /** Stage 2: the stage-1 run it started from. */
  init?: { run: string; bestEpoch: number | null };
  /** How `best/` is chosen. */
  selection: string;
  createdAt: string;
  updatedAt: string;
  epochsDone: number;
  bestEpoch: number | null;
  best: EpochMetrics | null;
}

/** Meta stored in every model checkpoint (best/, last/), enough to rebuild the model without run.json. */
export interface ModelCheckpointMeta {
  kind: 'recipe-retrieval-model';
  stage: Stage;
  config: ModelConfig;
  epoch: number;
  vocabSha256: string;
  labelNames: string[];
  /** Backbone weights of the features it was trained on. */
  backboneHash: string;
  /** Validation metrics of that epoch. */
  metrics?: EpochMetrics;
}

/** Extra meta of last/: what resuming needs. */
export interface ResumeMeta extends ModelCheckpointMeta {
  optimizerSteps: Record<string, number>;
  globalStep: number;
  bestEpoch: number | null;
  best: EpochMetrics | null;
}

export async function writeRunInfo(dir: string, info: RunInfo): Promise<void> {
  await writeFileAtomic(runPaths(dir).runJson, `${JSON.stringify(info, null, 2)}\n`);
}

export async function readRunInfo(dir: string): Promise<RunInfo> {
  const file = runPaths(dir).runJson;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new DataFileError(file, 'not found (is this a training run or model folder?)');
  }
  const info = parseJsonText<RunInfo>(file, text);
  if (info.format !== RUN_FORMAT) throw new DataFileError(file, `not a ${RUN_FORMAT} file`);
  return info;
}

export async function writeLabelNames(file: string, names: readonly string[]): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify({ labels: names }, null, 1)}\n`);
}

export async function readLabelNames(file: string): Promise<string[]> {
  const parsed = await readJsonFile(file);
  const labels = (parsed as { labels?: unknown }).labels;
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) {
    throw new DataFileError(file, 'expected {"labels": [names...]}');
  }
  return labels as string[];
}

export async function pathExists(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined)) !== undefined;
}
