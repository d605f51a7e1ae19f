import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../util/atomic.js';
import { formatDuration } from '../features/progress.js';
import { forward } from '../model/forward.js';
import type { FeatureRow } from '../features/feature-rows.js';
import { disposeTokens, featureTensor, multiHot, recipeTokens } from './batch-tensors.js';
import { saveCheckpoint } from '../model-format/checkpoint.js';
import { renderCurves } from './curves-svg.js';
import { planEpoch, stepDropoutSeed, type PlannedExample } from './epoch-plan.js';
import { learningRateAt } from './hyperparameters.js';
import { trainingLoss } from './losses.js';
import { appendEpochMetrics, type EpochMetrics, type LossMeans } from './metrics-log.js';
import { TfjsRetrievalModel } from './retrieval-model.js';
import { runPaths, writeRunInfo, type ModelCheckpointMeta, type ResumeMeta } from './run-files.js';
import type { PreparedRun } from './run-setup.js';
import { isBetter, validate } from './validation.js';

export interface TrainProgress {
  /** One line per batch (stderr in the CLI). */
  log: (line: string) => void;
}

function exampleRow(run: PreparedRun, ex: PlannedExample): FeatureRow {
  const key = run.train.keys[ex.pair];
  const augmented = ex.view > 0 ? run.trainViews.augmented[ex.view - 1] : undefined;
  // An image the augmented view lacks (unreadable when it was extracted) falls back to the centre crop.
  return augmented?.has(key) ? { cache: augmented, key } : { cache: run.trainViews.base, key };
}

interface StepLosses {
  total: number;
  retrieval?: number;
  recipe?: number;
  classification?: number;
}

/** One optimizer step on one batch. */
function trainStep(run: PreparedRun, batch: PlannedExample[], dropoutSeed: string): StepLosses {
  const { config, params, info } = run;
  const imageFeatures = featureTensor(batch.map((ex) => exampleRow(run, ex)));
  const tokens = recipeTokens(batch.map((ex) => run.train.recipes[ex.pair]));
  const targets = run.trainLabels ? multiHot(batch.map((ex) => run.trainLabels![ex.pair]), config.classifier.labels) : undefined;
  const losses: StepLosses = { total: NaN };
  try {
    const { value, grads } = params.valueAndGrads(() => {
      const outputs = forward(params, config, { imageFeatures, recipe: tokens }, {
        training: true, dictionary: run.dictionary, classify: run.dictionary !== undefined, dropoutSeed,
      });
      const parts = trainingLoss(outputs, { targets, classificationWeight: info.hyperparameters.classificationWeight });
      losses.retrieval = parts.retrieval?.dataSync()[0];
      losses.recipe = parts.recipe?.dataSync()[0];
      losses.classification = parts.classification?.dataSync()[0];
      return parts.total;
    });
    losses.total = value.dataSync()[0];
    run.optimizer.step(params, grads);
    value.dispose();
    for (const g of grads.values()) g.dispose();
  } finally {
    imageFeatures.dispose();
    disposeTokens(tokens);
    targets?.dispose();
  }
  return losses;
}

function meanLosses(steps: StepLosses[]): LossMeans {
  const mean = (key: keyof StepLosses): number | undefined => {
    const values = steps.map((s) => s[key]).filter((v): v is number => v !== undefined);
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
  };
  const out: LossMeans = { total: mean('total') ?? NaN };
  for (const key of ['retrieval', 'recipe', 'classification'] as const) {
    const v = mean(key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function checkpointMeta(run: PreparedRun, epoch: number, metrics?: EpochMetrics): ModelCheckpointMeta {
  return {
    kind: 'recipe-retrieval-model',
    stage: run.info.stage,
    config: run.config,
    epoch,
    vocabSha256: run.info.vocab.sha256,
    labelNames: run.info.labels.names,
    backboneHash: run.info.features.backboneHash,
    metrics,
  };
}

async function saveLast(run: PreparedRun, epoch: number): Promise<void> {
  const state = run.optimizer.state();
  const meta: ResumeMeta = {
    ...checkpointMeta(run, epoch),
    optimizerSteps: Object.fromEntries(state.steps),
    globalStep: run.globalStep,
    bestEpoch: run.info.bestEpoch,
    best: run.info.best,
  };
  await saveCheckpoint(runPaths(run.out).last, { params: run.params.toNamedTensors(), 'adam.m': state.expAvg, 'adam.v': state.expAvgSq }, meta);
}

/**
 * Train epochs startEpoch..epochs-1: per epoch, seeded batches, one AdamW step each, validation,
 * best/ when the selection score improves, a metrics line, last/ (with optimizer state), the
 * curves and run.json. Everything random is a function of (seed, epoch, step), so resuming from
 * last/ continues exactly as if never stopped.
 */
export async function trainEpochs(run: PreparedRun, progress: TrainProgress): Promise<void> {
  const h = run.info.hyperparameters;
  const paths = runPaths(run.out);
  const stepsPerEpoch = planEpoch(run.info.seed, 0, run.train.ids.length, run.info.views, h.batchSize).length;
  const timing = { steps: 0, stepSeconds: 0, vals: 0, valSeconds: 0 };
  for (let epoch = run.startEpoch; epoch < h.epochs; epoch++) {
    const epochStart = performance.now();
    const lr = learningRateAt(h, epoch);
    run.optimizer.learningRate = lr;
    const batches = planEpoch(run.info.seed, epoch, run.train.ids.length, run.info.views, h.batchSize);
    const stepLosses: StepLosses[] = [];
    for (const [i, batch] of batches.entries()) {
      const stepStart = performance.now();
      const losses = trainStep(run, batch, stepDropoutSeed(run.info.seed, epoch, i));
      if (!Number.isFinite(losses.total)) throw new Error(`loss became ${losses.total} at epoch ${epoch + 1} step ${i + 1}`);
      stepLosses.push(losses);
      run.globalStep++;
      timing.steps++;
      timing.stepSeconds += (performance.now() - stepStart) / 1000;
      const stepsLeft = (h.epochs - epoch - 1) * stepsPerEpoch + (batches.length - i - 1);
      const valsLeft = h.epochs - epoch;
      const eta = stepsLeft * (timing.stepSeconds / timing.steps) + valsLeft * (timing.vals ? timing.valSeconds / timing.vals : 0);
      progress.log(
        `epoch ${epoch + 1}/${h.epochs} step ${i + 1}/${batches.length} loss ${losses.total.toFixed(4)}` +
        `${losses.retrieval !== undefined ? ` (tri ${losses.retrieval.toFixed(4)}, rec ${losses.recipe?.toFixed(4)}` : ''}` +
        `${losses.classification !== undefined ? `, cls ${losses.classification.toFixed(3)}` : ''}${losses.retrieval !== undefined ? ')' : ''}` +
        ` lr ${lr.toExponential(1)} ${((performance.now() - stepStart) / 1000).toFixed(1)}s/step ETA ${formatDuration(eta)}`,
      );
    }
    const trainSeconds = (performance.now() - epochStart) / 1000;

    const valStart = performance.now();
    const model = new TfjsRetrievalModel(run.params, run.config, run.dictionary);
    const val = await validate(model, run.val, run.valViews.base, h);
    const valSeconds = (performance.now() - valStart) / 1000;
    timing.vals++;
    timing.valSeconds += valSeconds;

    const best = run.info.best ? isBetter(val, run.info.best.val, h.selectBy ?? 'r1') : true;
    const metrics: EpochMetrics = {
      epoch: epoch + 1,
      step: run.globalStep,
      lr,
      loss: meanLosses(stepLosses),
      val,
      best,
      seconds: { train: trainSeconds, val: valSeconds, total: (performance.now() - epochStart) / 1000 },
    };
    if (best) {
      run.info.best = metrics;
      run.info.bestEpoch = epoch + 1;
      await saveCheckpoint(paths.best, { params: run.params.toNamedTensors() }, checkpointMeta(run, epoch + 1, metrics));
    }
    // The log line first, then last/: a resumed run drops lines past last/'s epoch.
    await appendEpochMetrics(paths.metrics, metrics);
    run.history.push(metrics);
    run.info.epochsDone = epoch + 1;
    run.info.updatedAt = new Date().toISOString();
    await saveLast(run, epoch + 1);
    await writeFileAtomic(paths.curves, renderCurves(run.history, `${run.info.stage} (${run.info.preset})`));
    await writeRunInfo(run.out, run.info);
    const v = val.debiased?.imageToRecipe ?? val.imageToRecipe;
    progress.log(
      `epoch ${epoch + 1}/${h.epochs}: loss ${metrics.loss.total.toFixed(4)}, val image->recipe${val.debiased ? ' (debiased)' : ''} ` +
      `R@1 ${v.r1.toFixed(1)} R@5 ${v.r5.toFixed(1)} R@10 ${v.r10.toFixed(1)} medR ${v.medR}` +
      `${best ? ' (best)' : ''}; ${metrics.seconds.total.toFixed(1)}s (val ${valSeconds.toFixed(1)}s); ${tf.memory().numTensors} tensors`,
    );
  }
}
