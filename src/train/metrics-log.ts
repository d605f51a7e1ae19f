import { promises as fs } from 'node:fs';
import type { RankMetrics } from '../eval/metrics.js';
import { writeFileAtomic } from '../util/atomic.js';
import { DataFileError } from '../util/errors.js';
import { readTextIfPresent } from '../util/read-if-present.js';

export interface DirectionPair {
  imageToRecipe: RankMetrics;
  recipeToImage: RankMetrics;
}

export interface ValidationMetrics extends DirectionPair {
  pairs: number;
  /** Pairs per ranking run and the number of runs averaged. */
  n: number;
  runs: number;
  /** Stage 2: the same with the debiased image embedding ẽ_I. */
  debiased?: DirectionPair;
  /** The number best/ is chosen by (see RunInfo.selection). */
  selection: number;
}

/** Mean loss terms over an epoch's steps. */
export interface LossMeans {
  total: number;
  retrieval?: number;
  recipe?: number;
  classification?: number;
}

/** One line of metrics.jsonl. */
export interface EpochMetrics {
  /** 1-based epoch number. */
  epoch: number;
  /** Optimizer steps done by the end of this epoch (over the whole run). */
  step: number;
  lr: number;
  loss: LossMeans;
  val: ValidationMetrics;
  /** Whether this epoch became best/. */
  best: boolean;
  seconds: { train: number; val: number; total: number };
}

export async function appendEpochMetrics(file: string, metrics: EpochMetrics): Promise<void> {
  await fs.appendFile(file, `${JSON.stringify(metrics)}\n`);
}

export async function readEpochMetrics(file: string): Promise<EpochMetrics[]> {
  const text = await readTextIfPresent(file);
  if (text === undefined) return [];
  return text.split('\n').filter((line) => line.trim()).map((line, i) => {
    try {
      return JSON.parse(line) as EpochMetrics;
    } catch {
      throw new DataFileError(file, `line ${i + 1} is not valid JSON`);
    }
  });
}

/**
 * Keep the lines of epochs <= `lastEpoch` (a resumed run drops lines written after its last
 * checkpoint, e.g. by a run killed between the log and the checkpoint); returns what is kept.
 */
export async function truncateEpochMetrics(file: string, lastEpoch: number): Promise<EpochMetrics[]> {
  const kept = (await readEpochMetrics(file)).filter((m) => m.epoch <= lastEpoch);
  await writeFileAtomic(file, kept.map((m) => `${JSON.stringify(m)}\n`).join(''));
  return kept;
}
