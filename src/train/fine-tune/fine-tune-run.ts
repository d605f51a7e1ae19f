import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RecipeDataset, recipe1mImagePath } from '../../data/dataset.js';
import { loadTrainCrop } from '../../data/images/index.js';
import { toTorchvisionNchwBatch } from '../../data/images/normalise.js';
import { loadVocabulary } from '../../data/text/vocabulary.js';
import { readIngredientDictionary } from '../../import/ingredient-dictionary.js';
import { presetConfig, type PresetName } from '../../model/config.js';
import { resnet50OutputChannels } from '../../model/torchvision-resnet-keys.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { SeededRandom } from '../../util/random.js';
import { AdamW } from '../adamw.js';
import { recipeTokens, disposeTokens, multiHot } from '../batch-tensors.js';
import { learningRateAt } from '../hyperparameters.js';
import { loadLabelNames, loadRecipeLabels } from '../label-data.js';
import { SEED_ASL } from '../losses.js';
import { encodeAll } from '../pairs.js';
import { fineTuneStep } from './fine-tune-step.js';
import { initialFineTuneModel, loadSeedCheckpointModel, type FineTuneModel } from './fine-tune-model.js';
import { writeSeedCheckpoint } from './seed-checkpoint-writer.js';
import { loadTorchvisionBackbone } from './torchvision-weights.js';
import type { SeedObjective } from './seed-objective.js';

/** The fine-tuning run's files: a seed-format checkpoint that `export` imports like the authors' own. */
export const FINE_TUNE_CHECKPOINT = 'checkpoint.pth.tar';
export const FINE_TUNE_RUN_JSON = 'fine-tune.json';

export interface FineTuneOptions {
  root: string;
  out: string;
  /** A seed checkpoint (stage 1 or 2, e.g. an imported paper model) to start from. */
  init?: string;
  /** Without --init: sizes of the heads, and the ResNet stem width (64 = ResNet-50). */
  preset: PresetName;
  stemWidth: number;
  vocabFile: string;
  labelsDir?: string;
  /** Without --init: torchvision's ImageNet ResNet-50 state_dict for the trunk (what pretrained=True loads). */
  backboneWeights?: string;
  /** Stage 2 checkpoints: the ingredient dictionary pickle. */
  dictionary?: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  lrStep: number;
  seed: number;
  /** Train on the first N pairs only (smoke tests). */
  maxPairs?: number;
  log: (line: string) => void;
}

export interface FineTuneEpoch {
  epoch: number;
  lr: number;
  loss: number;
  steps: number;
  seconds: number;
  secondsPerImage: number;
}

export interface FineTuneSummary {
  out: string;
  checkpoint: string;
  pairs: number;
  epochs: FineTuneEpoch[];
}

/**
 * `train --fine-tune`: the seed's training loop from photos. Each epoch shuffles the paired train
 * recipes (seeded), loads every photo through the seed's train transform (Resize 256, random crop
 * 224, random flip; seeded per epoch and pair), runs fineTuneStep (model.train() forward, the
 * seed's loss, AdamW over layer2-4 and the heads) and steps the learning rate per epoch (StepLR).
 * After each epoch the model is written as a seed-format checkpoint (atomically).
 */
export async function fineTune(opts: FineTuneOptions): Promise<FineTuneSummary> {
  if (opts.init && opts.backboneWeights) throw new UserError('give --init (a whole seed checkpoint) or --backbone-weights (ImageNet trunk only), not both');
  const dataset = await RecipeDataset.open(opts.root);
  const vocab = await loadVocabulary(opts.vocabFile);
  const labelsDir = path.resolve(opts.labelsDir ?? opts.root);
  const { file: labelsFile, names: labelNames } = await loadLabelNames(labelsDir);
  let recipes = await dataset.readPaired('train');
  if (opts.maxPairs !== undefined) recipes = recipes.slice(0, opts.maxPairs);
  if (recipes.length < 2) throw new UserError(`${dataset.splitFile('train')}: fine-tuning needs at least 2 paired train recipes`);
  const labelsById = await loadRecipeLabels(labelsDir, 'train', labelNames.length);
  const encoded = encodeAll(recipes, vocab);
  const labels = recipes.map((r) => {
    const l = labelsById.get(r.id);
    if (!l) throw new UserError(`id2labels_train.pkl in ${labelsDir} has no entry for train recipe ${r.id}`);
    return l;
  });

  let model: FineTuneModel;
  if (opts.init) {
    model = loadSeedCheckpointModel(opts.init).model;
    if (model.config.vocabSize !== vocab.size) throw new UserError(`${opts.init}: word embedding has ${model.config.vocabSize} rows, but ${opts.vocabFile} has ${vocab.size} words`);
    if (model.config.classifier.labels !== labelNames.length) throw new UserError(`${opts.init}: ${model.config.classifier.labels} ingredient classes, but ${labelsFile} has ${labelNames.length}`);
  } else {
    const config = { ...presetConfig(opts.preset, { vocabSize: vocab.size, labels: labelNames.length }), backboneChannels: resnet50OutputChannels(opts.stemWidth) };
    if (!config.classifier.inputProjection) config.classifier.width = config.backboneChannels;
    model = initialFineTuneModel(config, opts.stemWidth, false, opts.seed);
    if (opts.backboneWeights) {
      const { loaded } = loadTorchvisionBackbone(opts.backboneWeights, model);
      opts.log(`backbone: ${loaded} tensors from ${opts.backboneWeights}`);
    }
  }
  let dictionary: tf.Tensor2D | undefined;
  if (model.debias) {
    if (!opts.dictionary) throw new UserError(`${opts.init} is a stage-2 (debiasing) checkpoint: --dictionary <ingredient_dict_textual.pkl> is required`);
    const d = await readIngredientDictionary(opts.dictionary, model.config.classifier.labels, model.config.recipe.width);
    dictionary = tf.tensor2d(d.matrix.data, d.matrix.dims as [number, number]);
  }
  const objective: SeedObjective = {
    classificationWeight: model.debias ? 0.001 : 0, retrievalWeight: 1, margin: 0.3, asl: SEED_ASL,
  };
  const optimizer = new AdamW({ learningRate: opts.learningRate, weightDecay: opts.weightDecay });
  await fs.mkdir(opts.out, { recursive: true });
  const checkpoint = path.join(opts.out, FINE_TUNE_CHECKPOINT);
  const runInfo = {
    mode: 'fine-tune', init: opts.init ?? null, preset: opts.init ? null : opts.preset, stemWidth: model.stemWidth,
    backboneWeights: opts.backboneWeights ? path.resolve(opts.backboneWeights) : null,
    vocab: path.resolve(opts.vocabFile), labels: labelsFile, dictionary: opts.dictionary ? path.resolve(opts.dictionary) : null,
    stage: model.debias ? 'debias' : 'baseline', config: model.config, epochs: opts.epochs, batchSize: opts.batchSize,
    learningRate: opts.learningRate, weightDecay: opts.weightDecay, lrStep: opts.lrStep, seed: opts.seed, pairs: recipes.length,
    checkpoint: FINE_TUNE_CHECKPOINT, history: [] as FineTuneEpoch[],
  };
  const order = recipes.map((_, i) => i);
  const history: FineTuneEpoch[] = [];
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      optimizer.learningRate = learningRateAt({ learningRate: opts.learningRate, lrStep: opts.lrStep, lrGamma: 0.1 }, epoch);
      new SeededRandom(opts.seed * 1000 + epoch).shuffle(order);
      const started = performance.now();
      let lossSum = 0;
      let steps = 0;
      let images = 0;
      // The seed's DataLoader keeps a last partial batch; a batch of one has no in-batch negatives, so it is dropped.
      for (let start = 0; start + 2 <= order.length; start += opts.batchSize) {
        const idx = order.slice(start, start + opts.batchSize);
        const crops = await Promise.all(idx.map((i) => loadTrainCrop(
          recipe1mImagePath(dataset.imageRoot, 'train', recipes[i].images[0]), new SeededRandom(opts.seed * 7919 + epoch * 104729 + i),
        )));
        const [h, w] = [crops[0].height, crops[0].width];
        const nchw = tf.tensor4d(toTorchvisionNchwBatch(crops), [idx.length, 3, h, w]);
        const imagesNhwc = tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D;
        nchw.dispose();
        const tokens = recipeTokens(idx.map((i) => encoded[i]));
        const targets = multiHot(idx.map((i) => labels[i]), labelNames.length);
        const result = fineTuneStep(model, optimizer, { images: imagesNhwc, recipe: tokens, targets }, objective, {
          dictionary, dropoutSeed: `${opts.seed}.${epoch}.${start}`,
        });
        tf.dispose([imagesNhwc, targets]);
        disposeTokens(tokens);
        const loss = result.losses.get('total')!;
        if (!Number.isFinite(loss)) throw new UserError(`epoch ${epoch + 1}: the loss became ${loss}; lower --lr`);
        lossSum += loss;
        steps++;
        images += idx.length;
        opts.log(`epoch ${epoch + 1}/${opts.epochs} step ${steps}: loss ${loss.toFixed(4)} (${((performance.now() - started) / 1000 / images).toFixed(2)} s/image)`);
      }
      const seconds = (performance.now() - started) / 1000;
      const row: FineTuneEpoch = { epoch: epoch + 1, lr: optimizer.learningRate, loss: lossSum / steps, steps, seconds, secondsPerImage: seconds / images };
      history.push(row);
      opts.log(`epoch ${epoch + 1}: mean loss ${row.loss.toFixed(4)}, ${row.secondsPerImage.toFixed(2)} s/image`);
      const staging = `${checkpoint}.tmp`;
      writeSeedCheckpoint(staging, model, epoch + 1);
      await fs.rename(staging, checkpoint);
      await writeFileAtomic(path.join(opts.out, FINE_TUNE_RUN_JSON), `${JSON.stringify({ ...runInfo, history }, null, 2)}\n`);
    }
  } finally {
    model.params.dispose();
    model.batchNorm.dispose();
    optimizer.dispose();
    dictionary?.dispose();
  }
  return { out: opts.out, checkpoint, pairs: recipes.length, epochs: history };
}

/** The files `export` needs from a fine-tuning run folder, or undefined when DIR is not one. */
export async function readFineTuneRun(dir: string): Promise<{ checkpoint: string; vocab: string; labels: string; dictionary?: string } | undefined> {
  const file = path.join(dir, FINE_TUNE_RUN_JSON);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const info = JSON.parse(text) as { checkpoint: string; vocab: string; labels: string; dictionary: string | null };
  return { checkpoint: path.join(dir, info.checkpoint), vocab: info.vocab, labels: info.labels, dictionary: info.dictionary ?? undefined };
}
