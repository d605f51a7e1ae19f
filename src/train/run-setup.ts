import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RecipeDataset } from '../data/dataset.js';
import { buildVocabulary, loadVocabulary, saveVocabulary, type Vocabulary } from '../data/text/vocabulary.js';
import { validateModelConfig, type ModelConfig, type PresetName } from '../model/config.js';
import { modelParamSpecs } from '../model/param-spec.js';
import { ParamStore } from '../model/param-store.js';
import { DataFileError, UserError } from '../util/errors.js';
import { fromRoot } from '../util/paths.js';
import { portablePath, resolveRecordedPath } from '../util/portable-path.js';
import { sha256File } from '../util/sha256.js';
import { AdamW } from './adamw.js';
import { hasCheckpoint, loadCheckpoint } from '../model-format/checkpoint.js';
import { loadDictionary } from './dictionary-files.js';
import { openFeatureViews, type FeatureViews } from './feature-views.js';
import { defaultHyperparameters, type Hyperparameters, type Stage } from './hyperparameters.js';
import { checkSameLabels, loadLabelNames, loadRecipeLabels } from './label-data.js';
import { truncateEpochMetrics, type EpochMetrics } from './metrics-log.js';
import { resolveModelConfig } from './model-config-file.js';
import { loadModelFolder } from './model-folder.js';
import { loadPairs, type PairSet } from './pairs.js';
import {
  pathExists, readLabelNames, readRunInfo, runPaths, writeLabelNames, writeRunInfo,
  type ResumeMeta, type RunInfo,
} from './run-files.js';
import { selectionRule } from './validation.js';

export const DEFAULT_VOCAB = fromRoot('models', 'recipe1m-vocab', 'vocab.pkl');

export interface TrainStageOptions {
  stage: Stage;
  root: string;
  out: string;
  preset: PresetName;
  /** JSON file overriding preset sizes (see model-config-file.ts). */
  configFile?: string;
  /** Vocabulary file, or build one from the paired training text. Default: the Recipe1M vocab. */
  vocabFile?: string;
  buildVocabMinCount?: number;
  labelsDir?: string;
  cacheDir?: string;
  /** Stage 2: the stage-1 run folder. */
  init?: string;
  /** Flags given on the command line (the rest come from the preset's defaults). */
  hyper: Partial<Hyperparameters>;
  seed: number;
  views?: number;
  backendName: string;
  resume: boolean;
  log: (line: string) => void;
}

/** Everything the epoch loop needs, from a fresh start or from last/. */
export interface PreparedRun {
  out: string;
  info: RunInfo;
  config: ModelConfig;
  params: ParamStore;
  optimizer: AdamW;
  dictionary?: tf.Tensor2D;
  train: PairSet;
  trainViews: FeatureViews;
  /** Stage 2: label list of each train pair (multi-hot targets). */
  trainLabels?: number[][];
  val: PairSet;
  valViews: FeatureViews;
  /** 0-based index of the next epoch to train. */
  startEpoch: number;
  globalStep: number;
  history: EpochMetrics[];
  dispose(): void;
}

async function prepareVocabulary(opts: TrainStageOptions, dataset: RecipeDataset, target: string): Promise<{ vocab: Vocabulary; info: RunInfo['vocab'] }> {
  if (opts.buildVocabMinCount !== undefined) {
    const recipes = await dataset.readPaired('train');
    const texts = recipes.flatMap((r) => [r.title, ...r.ingredients, ...r.instructions]);
    const vocab = buildVocabulary(texts, opts.buildVocabMinCount);
    await saveVocabulary(vocab, target);
    return {
      vocab,
      info: { file: 'vocab.pkl', source: `built from ${dataset.splitFile('train')}`, sha256: await sha256File(target), words: vocab.size, builtWithMinCount: opts.buildVocabMinCount },
    };
  }
  const source = path.resolve(opts.vocabFile ?? DEFAULT_VOCAB);
  const vocab = await loadVocabulary(source);
  await fs.copyFile(source, target);
  return { vocab, info: { file: 'vocab.pkl', source: portablePath(source), sha256: await sha256File(target), words: vocab.size } };
}

async function initPreset(init: string): Promise<PresetName> {
  const info = await readRunInfo(init).catch(() => undefined);
  const preset = info?.preset;
  return preset === 'paper' || preset === 'cpu' || preset === 'tiny' ? preset : 'paper';
}

function resolvedHyper(opts: TrainStageOptions): Hyperparameters {
  return { ...defaultHyperparameters(opts.preset, opts.stage), ...opts.hyper };
}

async function openData(
  dataset: RecipeDataset, vocab: Vocabulary, cacheDir: string, views: number | undefined, log: (line: string) => void,
): Promise<{ train: PairSet; trainViews: FeatureViews; val: PairSet; valViews: FeatureViews }> {
  const trainViews = await openFeatureViews(cacheDir, 'train', views);
  const valViews = await openFeatureViews(cacheDir, 'val', 0);
  if (valViews.backboneHash !== trainViews.backboneHash) {
    throw new UserError(`${cacheDir}: the train and val features come from different backbone weights; re-run the features command`);
  }
  const train = await loadPairs(dataset, 'train', vocab, trainViews.base);
  const val = await loadPairs(dataset, 'val', vocab, valViews.base);
  for (const set of [train, val]) {
    if (set.withoutFeatures.length) log(`warning: ${set.withoutFeatures.length} ${set.split} pair(s) have no cached features and are left out`);
  }
  log(`data: ${train.ids.length} train pairs (${trainViews.augmented.length} augmented views), ${val.ids.length} val pairs`);
  return { train, trainViews, val, valViews };
}

async function trainLabelLists(labelsDir: string, train: PairSet, numLabels: number): Promise<number[][]> {
  const byId = await loadRecipeLabels(labelsDir, 'train', numLabels);
  return train.ids.map((id) => {
    const labels = byId.get(id);
    if (!labels) throw new UserError(`id2labels_train.pkl in ${labelsDir} has no entry for train recipe ${id} (label files from another dataset?)`);
    return labels;
  });
}

/** A new run folder: refuses one that already holds a run. */
export async function startRun(opts: TrainStageOptions): Promise<PreparedRun> {
  const paths = runPaths(opts.out);
  if (await pathExists(paths.runJson)) {
    throw new UserError(`${opts.out} already holds a run (use --resume to continue it, or choose another --out)`);
  }
  const dataset = await RecipeDataset.open(opts.root);
  const labelsDir = path.resolve(opts.labelsDir ?? opts.root);
  const cacheDir = path.resolve(opts.cacheDir ?? path.join(opts.root, '.cache', 'features'));
  const labels = await loadLabelNames(labelsDir);
  // Stage 2 trains the model of its --init run: that run's preset sets the defaults.
  const preset = opts.stage === 'debias' && opts.init ? await initPreset(opts.init) : opts.preset;
  const hyper = resolvedHyper({ ...opts, preset });
  await fs.mkdir(opts.out, { recursive: true });

  let vocab: Vocabulary;
  let vocabInfo: RunInfo['vocab'];
  let config: ModelConfig;
  let params: ParamStore;
  let dictionary: tf.Tensor2D | undefined;
  let init: RunInfo['init'];
  if (opts.stage === 'debias') {
    if (!opts.init) throw new UserError('--stage debias needs --init <stage-1 run folder>');
    const initPaths = runPaths(opts.init);
    if (!(await hasCheckpoint(initPaths.dictionary))) {
      throw new UserError(`${opts.init}: no ingredient dictionary (run: recipe-retrieval dictionary --run ${opts.init} <root>)`);
    }
    const model = await loadModelFolder(opts.init);
    if (model.params.has('Wv.weight')) {
      model.dispose();
      throw new UserError(`${opts.init}: --init must be a stage-1 (baseline) run; this model already has Wv`);
    }
    checkSameLabels(model.labelNames, labels.names, labels.file);
    vocab = model.vocab;
    config = model.config;
    // Stage 1's best weights, plus Wv initialised from the run seed.
    params = model.params;
    const added = params.addMissing(modelParamSpecs(config, { debias: true }), opts.seed);
    opts.log(`initialised from ${model.checkpointDir} (epoch ${model.meta.epoch}); added ${added.join(', ')}`);
    await fs.copyFile(initPaths.vocab, paths.vocab);
    vocabInfo = { ...(model.info?.vocab ?? { file: 'vocab.pkl', source: initPaths.vocab, words: vocab.size }), sha256: await sha256File(paths.vocab) } as RunInfo['vocab'];
    // The run carries its own copy of D, so it is a complete model folder.
    await fs.cp(initPaths.dictionary, paths.dictionary, { recursive: true });
    dictionary = model.dictionary;
    init = { run: portablePath(opts.init), bestEpoch: model.meta.epoch };
  } else {
    if (opts.init) throw new UserError('--init is for --stage debias (stage 1 starts from random weights)');
    ({ vocab, info: vocabInfo } = await prepareVocabulary(opts, dataset, paths.vocab));
    config = {} as ModelConfig; // set below, once the feature channels are known
    params = undefined as unknown as ParamStore;
  }
  await writeLabelNames(paths.labels, labels.names);

  const data = await openData(dataset, vocab, cacheDir, opts.views, opts.log);
  if (opts.stage === 'baseline') {
    config = await resolveModelConfig(opts.preset, { vocabSize: vocab.size, labels: labels.names.length, backboneChannels: data.trainViews.channels }, opts.configFile);
    params = ParamStore.initialise(modelParamSpecs(config, { debias: false }), opts.seed);
  } else if (config.backboneChannels !== data.trainViews.channels) {
    throw new UserError(`the features have ${data.trainViews.channels} channels, the model ${config.backboneChannels}`);
  }
  const trainLabels = opts.stage === 'debias' ? await trainLabelLists(labelsDir, data.train, labels.names.length) : undefined;
  const now = new Date().toISOString();
  const info: RunInfo = {
    format: 'recipe-retrieval-run',
    version: 1,
    stage: opts.stage,
    preset,
    config,
    backend: opts.backendName,
    // Paths inside the project are recorded relative to it, so a committed run folder names no machine path.
    datasetRoot: portablePath(opts.root),
    labelsDir: portablePath(labelsDir),
    features: { cacheDir: portablePath(cacheDir), backboneHash: data.trainViews.backboneHash },
    vocab: vocabInfo,
    labels: { file: 'labels.json', source: labels.file, count: labels.names.length, names: labels.names },
    seed: opts.seed,
    hyperparameters: hyper,
    views: data.trainViews.augmented.length,
    trainPairs: data.train.ids.length,
    valPairs: data.val.ids.length,
    init,
    selection: selectionRule(hyper.selectBy),
    parameters: params.elementCount(),
    createdAt: now,
    updatedAt: now,
    epochsDone: 0,
    bestEpoch: null,
    best: null,
  };
  await writeRunInfo(opts.out, info);
  return assemble(opts.out, info, config, params, new AdamW({ learningRate: hyper.learningRate, weightDecay: hyper.weightDecay }), dictionary, data, trainLabels, 0, 0, []);
}

function assemble(
  out: string, info: RunInfo, config: ModelConfig, params: ParamStore, optimizer: AdamW, dictionary: tf.Tensor2D | undefined,
  data: { train: PairSet; trainViews: FeatureViews; val: PairSet; valViews: FeatureViews }, trainLabels: number[][] | undefined,
  startEpoch: number, globalStep: number, history: EpochMetrics[],
): PreparedRun {
  return {
    out, info, config, params, optimizer, dictionary, ...data, trainLabels, startEpoch, globalStep, history,
    dispose() {
      optimizer.dispose();
      params.dispose();
      dictionary?.dispose();
      data.trainViews.close();
      data.valViews.close();
    },
  };
}

/** Continue a run from last/: weights, optimizer moments and step counts, epoch counter, best so far. */
export async function resumeRun(out: string, epochs: number | undefined, log: (line: string) => void): Promise<PreparedRun> {
  const paths = runPaths(out);
  const info = await readRunInfo(out);
  if (!(await hasCheckpoint(paths.last))) throw new UserError(`${out}: no last/ checkpoint to resume from (the run has not finished an epoch)`);
  const loaded = await loadCheckpoint<ResumeMeta>(paths.last);
  const meta = loaded.manifest.meta;
  const config = validateModelConfig(meta.config, path.join(paths.last, 'checkpoint.json'));
  const vocabSha = await sha256File(paths.vocab);
  if (vocabSha !== meta.vocabSha256) throw new DataFileError(paths.vocab, 'changed since the checkpoint was written');
  const vocab = await loadVocabulary(paths.vocab);
  const labelNames = await readLabelNames(paths.labels);
  const paramTensors = loaded.groups.get('params') ?? new Map();
  const params = ParamStore.fromNamedTensors(modelParamSpecs(config, { debias: info.stage === 'debias' }), paramTensors, paths.last);
  // Runs written before selectBy existed selected on R@1.
  const hyper: Hyperparameters = { ...info.hyperparameters, ...(epochs !== undefined ? { epochs } : {}) };
  hyper.selectBy ??= 'r1';
  const optimizer = new AdamW({ learningRate: hyper.learningRate, weightDecay: hyper.weightDecay });
  optimizer.loadState({
    steps: new Map(Object.entries(meta.optimizerSteps)),
    expAvg: loaded.groups.get('adam.m') ?? new Map(),
    expAvgSq: loaded.groups.get('adam.v') ?? new Map(),
  });
  for (const group of loaded.groups.values()) for (const t of group.values()) t.dispose();
  const dictionary = info.stage === 'debias' ? (await loadDictionary(paths.dictionary, config, labelNames)).dictionary : undefined;
  const dataset = await RecipeDataset.open(resolveRecordedPath(info.datasetRoot));
  const data = await openData(dataset, vocab, resolveRecordedPath(info.features.cacheDir), info.views, log);
  if (data.trainViews.backboneHash !== info.features.backboneHash) {
    throw new UserError(`${info.features.cacheDir}: the cached features changed since the run started (other backbone weights)`);
  }
  const trainLabels = info.stage === 'debias' ? await trainLabelLists(info.labelsDir, data.train, labelNames.length) : undefined;
  const history = await truncateEpochMetrics(paths.metrics, meta.epoch);
  const resumedInfo: RunInfo = { ...info, hyperparameters: hyper, epochsDone: meta.epoch, bestEpoch: meta.bestEpoch, best: meta.best };
  log(`resuming ${out} after epoch ${meta.epoch} (step ${meta.globalStep})`);
  return assemble(out, resumedInfo, config, params, optimizer, dictionary, data, trainLabels, meta.epoch, meta.globalStep, history);
}
