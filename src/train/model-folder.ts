import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadVocabulary, type Vocabulary } from '../data/text/vocabulary.js';
import { validateModelConfig, type ModelConfig } from '../model/config.js';
import { modelParamSpecs } from '../model/param-spec.js';
import { ParamStore } from '../model/param-store.js';
import { DataFileError, UserError } from '../util/errors.js';
import { sha256File } from '../util/sha256.js';
import { hasCheckpoint, loadCheckpoint } from '../model-format/checkpoint.js';
import { loadDictionary, type DictionaryMeta } from './dictionary-files.js';
import {
  pathExists, readLabelNames, readRunInfo, runPaths, type ModelCheckpointMeta, type RunInfo,
} from './run-files.js';

/** A trained model ready for inference: weights, sizes, vocabulary, labels and (stage 2a+) the dictionary. */
export interface LoadedModel {
  /** The model (run) folder. */
  dir: string;
  checkpointDir: string;
  info?: RunInfo;
  meta: ModelCheckpointMeta;
  config: ModelConfig;
  params: ParamStore;
  vocab: Vocabulary;
  labelNames: string[];
  dictionary?: tf.Tensor2D;
  dictionaryMeta?: DictionaryMeta;
  dispose(): void;
}

/**
 * Load a model folder (a run folder or a copy such as models/demo-run): `best/` weights by default,
 * vocab.pkl, labels.json, and dictionary/ when present. A checkpoint folder itself (runs/x/best) is
 * accepted too; its run folder is its parent.
 */
export async function loadModelFolder(dir: string, opts: { checkpoint?: 'best' | 'last' } = {}): Promise<LoadedModel> {
  if (!(await pathExists(dir))) throw new UserError(`${dir}: model folder not found`);
  let folder = dir;
  let checkpointDir = path.join(dir, opts.checkpoint ?? 'best');
  if (await hasCheckpoint(dir)) {
    folder = path.dirname(dir);
    checkpointDir = dir;
  } else if (!(await hasCheckpoint(checkpointDir))) {
    throw new UserError(`${dir}: no model checkpoint (expected ${checkpointDir}/checkpoint.json; has the run finished an epoch?)`);
  }
  const paths = runPaths(folder);
  const info = (await pathExists(paths.runJson)) ? await readRunInfo(folder) : undefined;
  const loaded = await loadCheckpoint<ModelCheckpointMeta>(checkpointDir, ['params']);
  const meta = loaded.manifest.meta;
  const manifestFile = path.join(checkpointDir, 'checkpoint.json');
  if (meta.kind !== 'recipe-retrieval-model') throw new DataFileError(manifestFile, 'not a recipe-retrieval model checkpoint');
  const config = validateModelConfig(meta.config, manifestFile);
  const tensors = loaded.groups.get('params') ?? new Map<string, tf.Tensor>();
  let params: ParamStore;
  try {
    params = ParamStore.fromNamedTensors(modelParamSpecs(config, { debias: tensors.has('Wv.weight') }), tensors, checkpointDir);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  const vocabSha = await sha256File(paths.vocab).catch(() => {
    throw new UserError(`${paths.vocab}: vocabulary of the model not found`);
  });
  if (vocabSha !== meta.vocabSha256) {
    params.dispose();
    throw new DataFileError(paths.vocab, 'is not the vocabulary the model was trained with (sha256 differs from the checkpoint)');
  }
  const vocab = await loadVocabulary(paths.vocab);
  const labelNames = (await pathExists(paths.labels)) ? await readLabelNames(paths.labels) : meta.labelNames;
  let dictionary: tf.Tensor2D | undefined;
  let dictionaryMeta: DictionaryMeta | undefined;
  if (await hasCheckpoint(paths.dictionary)) {
    ({ dictionary, meta: dictionaryMeta } = await loadDictionary(paths.dictionary, config, labelNames));
  }
  return {
    dir: folder, checkpointDir, info, meta, config, params, vocab, labelNames, dictionary, dictionaryMeta,
    dispose() {
      params.dispose();
      dictionary?.dispose();
    },
  };
}
