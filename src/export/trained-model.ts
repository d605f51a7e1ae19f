import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { validateModelConfig, type ModelConfig } from '../model/config.js';
import { loadCheckpoint, hasCheckpoint, readCheckpointManifest } from '../model-format/checkpoint.js';
import { DataFileError, UserError } from '../util/errors.js';
import { readTextIfPresent } from '../util/read-if-present.js';
import { sha256File } from '../util/sha256.js';
import { parseJsonText } from '../util/json-file.js';

/**
 * A trained model as a training run folder holds it (src/train/run-files.ts):
 *   run.json, vocab.pkl, labels.json, best/ (group `params`), dictionary/ (group `dictionary`).
 * The reader is lenient about what it can rebuild (run.json missing: the checkpoint's own meta has
 * the config and label names) and strict about what must agree (vocabulary hash, label count).
 */
export interface TrainedModel {
  runDir: string;
  /** The run folder's name, e.g. "demo-run". */
  runName: string;
  stage: string;
  preset: string;
  config: ModelConfig;
  /** The config exactly as stored (checked for settings the exporter does not know). */
  rawConfig: unknown;
  /** Which file the config came from, for messages. */
  configSource: string;
  /** Model parameters by state-dict name (the caller disposes them with disposeTrainedModel). */
  params: Map<string, tf.Tensor>;
  checkpointDir: string;
  checkpointSha256: string;
  epoch?: number;
  /** Ingredient dictionary D [K, recipe width], when the run has one. */
  dictionary?: tf.Tensor2D;
  dictionarySha256?: string;
  labelNames: string[];
  vocabFile: string;
  vocabSha256: string;
  /** Validation metrics of the checkpoint's epoch (run.json `best`, or the checkpoint meta). */
  metrics: unknown;
  /** run.json as stored, when present. */
  runInfo?: Record<string, unknown>;
}

interface CheckpointMetaLike {
  stage?: string;
  config?: unknown;
  epoch?: number;
  vocabSha256?: string;
  labelNames?: string[];
  metrics?: unknown;
}

async function readJsonIfPresent(file: string): Promise<Record<string, unknown> | undefined> {
  const text = await readTextIfPresent(file);
  if (text === undefined) return undefined;
  const value = parseJsonText(file, text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DataFileError(file, 'not valid JSON (not a JSON object)');
  return value as Record<string, unknown>;
}

/** best/ holds the weights later stages and exports use; last/ only when a run has not finished an epoch with validation. */
async function findCheckpointDir(runDir: string): Promise<string> {
  for (const name of ['best', 'last']) {
    const dir = path.join(runDir, name);
    if (await hasCheckpoint(dir)) return dir;
  }
  throw new UserError(`${runDir}: no trained weights (expected ${path.join(runDir, 'best', 'checkpoint.json')})`);
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

async function readLabelNames(runDir: string, runInfo: Record<string, unknown> | undefined, meta: CheckpointMetaLike): Promise<string[] | undefined> {
  const file = path.join(runDir, 'labels.json');
  const stored = await readJsonIfPresent(file);
  if (stored) {
    const names = stringArray(stored.labels);
    if (!names) throw new DataFileError(file, 'expected {"labels": [names...]}');
    return names;
  }
  const fromRun = runInfo?.labels as { names?: unknown } | undefined;
  return stringArray(fromRun?.names) ?? stringArray(meta.labelNames);
}

/** The one tensor of the dictionary group (its name is the writer's choice). */
async function readDictionary(runDir: string, labelNames: readonly string[]): Promise<{ tensor: tf.Tensor2D; sha256: string } | undefined> {
  const dir = path.join(runDir, 'dictionary');
  if (!(await hasCheckpoint(dir))) return undefined;
  const file = path.join(dir, 'checkpoint.json');
  const { groups, manifest } = await loadCheckpoint<{ labelNames?: unknown }>(dir, ['dictionary']);
  const tensors = [...(groups.get('dictionary')?.values() ?? [])];
  const names = stringArray(manifest.meta?.labelNames);
  const problem = tensors.length !== 1 || tensors[0].rank !== 2
    ? `expected one 2-D tensor in group "dictionary", found ${tensors.length}`
    : names && (names.length !== labelNames.length || names.some((n, i) => n !== labelNames[i]))
      ? 'the dictionary was built for other ingredient labels than the model\'s'
      : undefined;
  if (problem) {
    for (const t of tensors) t.dispose();
    throw new DataFileError(file, problem);
  }
  return { tensor: tensors[0] as tf.Tensor2D, sha256: manifest.weights.sha256 };
}

export async function loadTrainedModel(runDir: string): Promise<TrainedModel> {
  let dir = path.resolve(runDir);
  if (!(await fs.stat(dir).catch(() => undefined))?.isDirectory()) throw new UserError(`${runDir}: run folder not found`);
  // A checkpoint folder given directly (runs/x/best or runs/x/last): its run folder is the parent.
  let givenCheckpoint: string | undefined;
  if (await hasCheckpoint(dir)) {
    givenCheckpoint = dir;
    dir = path.dirname(dir);
  }
  const runJson = path.join(dir, 'run.json');
  const runInfo = await readJsonIfPresent(runJson);
  const checkpointDir = givenCheckpoint ?? (await findCheckpointDir(dir));
  const checkpointJson = path.join(checkpointDir, 'checkpoint.json');
  const meta = (await readCheckpointManifest<CheckpointMetaLike>(checkpointDir)).meta ?? {};

  // The checkpoint's own config describes its weights; run.json's is the fallback.
  const [rawConfig, configSource] = meta.config !== undefined ? [meta.config, checkpointJson] : [runInfo?.config, runJson];
  if (rawConfig === undefined) throw new DataFileError(checkpointJson, 'no model config in the checkpoint meta, and no run.json beside it');
  const config = validateModelConfig(rawConfig, configSource);

  const vocabFile = path.join(dir, 'vocab.pkl');
  if (!(await fs.stat(vocabFile).catch(() => undefined))?.isFile()) throw new DataFileError(vocabFile, 'not found: the run must carry the vocabulary its embedding is indexed by');
  const vocabSha256 = await sha256File(vocabFile);
  const expectedVocab = (runInfo?.vocab as { sha256?: unknown } | undefined)?.sha256 ?? meta.vocabSha256;
  if (typeof expectedVocab === 'string' && expectedVocab !== vocabSha256) {
    throw new DataFileError(vocabFile, `sha256 ${vocabSha256.slice(0, 12)}... differs from the ${expectedVocab.slice(0, 12)}... the model was trained with`);
  }

  const labelNames = await readLabelNames(dir, runInfo, meta);
  if (!labelNames) throw new UserError(`${dir}: no ingredient label names (labels.json, run.json labels.names or the checkpoint meta)`);
  if (labelNames.length !== config.classifier.labels) {
    throw new UserError(`${dir}: ${labelNames.length} label names for a classifier with ${config.classifier.labels} labels`);
  }

  const { groups, manifest } = await loadCheckpoint(checkpointDir, ['params']);
  const params = groups.get('params');
  if (!params || params.size === 0) throw new DataFileError(checkpointJson, 'has no tensors in group "params"');
  const dictionary = await readDictionary(dir, labelNames);

  return {
    runDir: dir,
    runName: path.basename(dir),
    stage: String(runInfo?.stage ?? meta.stage ?? 'unknown'),
    preset: String(runInfo?.preset ?? 'custom'),
    config,
    rawConfig,
    configSource,
    params,
    checkpointDir,
    checkpointSha256: manifest.weights.sha256,
    epoch: meta.epoch,
    dictionary: dictionary?.tensor,
    dictionarySha256: dictionary?.sha256,
    labelNames,
    vocabFile,
    vocabSha256,
    metrics: runInfo?.best ?? meta.metrics ?? null,
    runInfo,
  };
}

export function disposeTrainedModel(model: TrainedModel): void {
  for (const t of model.params.values()) t.dispose();
  model.dictionary?.dispose();
}
