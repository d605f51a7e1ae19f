import { UserError } from '../../util/errors.js';
import { PRESET_NAMES, type PresetName } from '../../model/config.js';
import { SELECTION_METRICS, STAGES, type Hyperparameters } from '../../train/hyperparameters.js';
import { resumeRun, startRun } from '../../train/run-setup.js';
import { trainEpochs } from '../../train/trainer.js';
import { fineTune } from '../../train/fine-tune/fine-tune-run.js';
import { DEFAULT_VOCAB } from '../../train/run-setup.js';
import { defaultHyperparameters } from '../../train/hyperparameters.js';
import { activateBackend } from '../backend-setup.js';
import type { CommandContext, CommandResult } from '../command.js';
import { FlagError, type Command } from '../command.js';
import { backendOption } from '../common-options.js';
import { readFlags, type Flags, type ParsedArgs } from '../flags.js';
import { defineOptions } from '../options.js';

const SEED_MAX = 2 ** 32 - 1;

/** Options of --fine-tune alone (listed in its own paragraph of --help). */
const FINE_TUNE_ONLY = ['stem-width', 'backbone-weights', 'dictionary', 'max-pairs'] as const;

/** Options of the frozen-feature stages that --fine-tune refuses. */
const NOT_FOR_FINE_TUNE = ['resume', 'cache', 'views', 'val-n', 'val-runs', 'select', 'build-vocab', 'config'] as const;

const OPTIONS = defineOptions({
  stage: { type: 'string', value: 'S', description: '', choices: STAGES, required: STAGES.join(' or ') },
  out: {
    type: 'string', value: 'DIR', description: 'run folder (must not hold a run unless --resume)',
    required: 'the run folder, e.g. runs/baseline',
  },
  init: {
    type: 'string', value: 'DIR|FILE', fixedOnResume: true,
    description: 'stage 2: the stage-1 run folder; with --fine-tune: a seed checkpoint (.pth.tar,\nstage 1 or 2) to start from',
  },
  preset: {
    type: 'string', value: 'P', choices: PRESET_NAMES, default: 'paper', fixedOnResume: true,
    description: 'model sizes and training defaults (stage 2 takes those of --init)',
  },
  config: {
    type: 'string', value: 'FILE', fixedOnResume: true,
    description: 'JSON overriding preset sizes, e.g. {"embeddingDim": 256, "classifier": {"width": 128}}',
  },
  vocab: { type: 'string', value: 'FILE', description: 'vocabulary (default models/recipe1m-vocab/vocab.pkl)', fixedOnResume: true },
  'build-vocab': { type: 'boolean', description: 'build the vocabulary from the paired training text instead', fixedOnResume: true },
  'min-count': {
    type: 'string', value: 'N', description: 'with --build-vocab: keep words seen N times (as in Recipe1M)',
    default: 10, min: 1, max: 1_000_000, fixedOnResume: true,
  },
  'labels-dir': { type: 'string', value: 'DIR', description: 'folder of the label files (default the dataset root)', fixedOnResume: true },
  cache: { type: 'string', value: 'DIR', description: 'feature cache (default <dataset-root>/.cache/features)', fixedOnResume: true },
  epochs: { type: 'string', value: 'E', description: 'epochs (paper 100, cpu 25, tiny 2)', min: 1, max: 100_000 },
  batch: { type: 'string', value: 'B', description: 'pairs per step (paper 64, cpu 32, tiny 4)', min: 2, max: 100_000, fixedOnResume: true },
  lr: { type: 'string', value: 'X', description: 'AdamW learning rate (paper 1e-4, cpu 5e-4, tiny 1e-3)', fixedOnResume: true },
  'weight-decay': { type: 'string', value: 'X', description: 'AdamW decoupled weight decay (default 0.01)', min: 0, fixedOnResume: true },
  'lr-step': { type: 'string', value: 'E', description: 'epochs between learning-rate drops x0.1 (paper 30, cpu 20)', min: 1, max: 100_000, fixedOnResume: true },
  seed: { type: 'string', value: 'S', description: 'seed of initial weights, batch order, views and dropout', default: 1, min: 0, max: SEED_MAX, fixedOnResume: true },
  views: {
    type: 'string', value: 'K', description: 'use augmented train views 1..K (default every view in the cache; 0 = centre crop only)',
    min: 0, max: 1000, fixedOnResume: true,
  },
  'val-n': { type: 'string', value: 'N|all', description: 'validation subset size (default 1000; all when the split has fewer pairs)', fixedOnResume: true },
  'val-runs': { type: 'string', value: 'R', description: 'validation subsets averaged (default 10)', min: 1, max: 1000, fixedOnResume: true },
  select: {
    type: 'string', value: 'M', choices: SELECTION_METRICS, default: 'r1', fixedOnResume: true,
    description: 'what picks the best epoch: r1 = image->recipe R@1, as the paper; rsum =\nR@1+R@5+R@10 of both directions, steadier on a validation split of a few dozen pairs',
  },
  backend: backendOption('auto'),
  resume: { type: 'boolean', description: 'continue DIR from last/ with its saved settings (only --epochs and --backend may change)' },
  'fine-tune': { type: 'boolean', description: 'train end to end from photos (no feature cache)' },
  'stem-width': { type: 'string', value: 'N', description: 'without --init: ResNet stem width (64 = ResNet-50; the tiny preset uses 2)', min: 1, max: 1024 },
  'backbone-weights': {
    type: 'string', value: 'FILE',
    description: 'without --init: torchvision\'s ImageNet resnet50 .pth for the trunk (either\ntorch.save format: zip, or legacy pre-1.6 such as resnet50-19c8e357.pth)',
  },
  dictionary: { type: 'string', value: 'FILE', description: 'stage 2: ingredient_dict_textual.pkl' },
  'max-pairs': { type: 'string', value: 'N', description: 'train on the first N paired recipes only', min: 2, max: 100_000_000 },
});

/** Flags that --resume takes from run.json instead (only --epochs and --backend may be given). */
const FIXED_ON_RESUME = Object.entries(OPTIONS).filter(([, o]) => 'fixedOnResume' in o && o.fixedOnResume).map(([name]) => name);

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a model: stage 1 (HT baseline) or stage 2b (ingredient debiasing)',
  help: `Usage: recipe-retrieval train --stage baseline|debias <dataset-root> --out DIR [options]

Stage 1 (baseline): L = L_tri(e_I, e_R) + L_rec from random weights. Stage 2b (debias): starts from
the best weights of a stage-1 run (--init) that has an ingredient dictionary (recipe-retrieval
dictionary), adds Wv, and trains L = 0.001 L_cls + L_tri(ẽ_I, e_R) + L_rec; optimizer and schedule restart.
Images are the cached backbone features (recipe-retrieval features): each training pair reads a
random augmented view 1..K (view 0 when there are none); validation uses view 0.

Each epoch writes to DIR: metrics.jsonl (one line per epoch), curves.svg, run.json, last/ (weights
and optimizer state, for --resume) and best/ (weights of the best validation epoch so far:
image->recipe R@1 by default, debiased in stage 2; ties go to R@5, R@10, then medR; see
--select). DIR also gets vocab.pkl and labels.json (and, in stage 2, a copy of the dictionary): a complete model folder.`,
  options: OPTIONS,
  optionSections: [{
    text: `Fine-tuning (--fine-tune): trains ResNet layer2-4 together with the heads from the photos, as the
seed does (stem and layer1 frozen, BatchNorm in training mode, the seed's losses and AdamW, StepLR
per epoch, train transform Resize(256) -> RandomCrop(224) + RandomHorizontalFlip, seeded). Needs a
backend with convolution gradients: tfjs-node-gpu (the practical one), tfjs-node or cpu. Writes
DIR/checkpoint.pth.tar in the seed's own format after each epoch, and DIR/fine-tune.json;
\`recipe-retrieval export DIR --out MODEL\` turns it into a model folder. verify-train-step checks
the step against the seed's on your backend. Stage 2 when --init has Wv (then --dictionary).`,
    options: ['fine-tune', ...FINE_TUNE_ONLY],
  }],
  positionals: { min: 1, max: 1 },
  tfjsAdvice: true,
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    if (flags.bool('fine-tune')) return runFineTune(args, flags, ctx);
    for (const flag of FINE_TUNE_ONLY) {
      if (flags.given(flag)) throw new FlagError(`--${flag} goes with --fine-tune`);
    }
    ctx.log('mode: frozen-feature (cached backbone features, backbone not trained; --fine-tune trains ResNet layer2-4 from photos on a backend with convolution gradients)');
    const root = args.positionals[0];
    const stage = flags.choice('stage');
    const out = flags.string('out');
    const epochs = flags.int('epochs');
    const resume = flags.bool('resume');
    const started = performance.now();

    let prepared;
    if (resume) {
      const fixed = FIXED_ON_RESUME.filter((name) => args.values[name] !== undefined);
      if (fixed.length) throw new FlagError(`--resume takes its settings from run.json; drop --${fixed.join(', --')}`);
      const backend = await activateBackend(flags.string('backend'), ctx.log);
      prepared = await resumeRun(out, epochs, ctx.log);
      if (prepared.info.stage !== stage) throw new FlagError(`${out} is a ${prepared.info.stage} run, not ${stage}`);
      prepared.info.backend = backend.name;
    } else {
      const preset = presetFlag(flags);
      const buildVocab = flags.bool('build-vocab');
      if (buildVocab && flags.given('vocab')) throw new FlagError('give either --vocab or --build-vocab, not both');
      if (!buildVocab && flags.given('min-count')) throw new FlagError('--min-count goes with --build-vocab');
      if (stage === 'debias' && (flags.given('preset') || flags.given('config'))) {
        throw new FlagError('stage 2 trains the model of its --init run (its sizes and preset defaults); drop --preset/--config');
      }
      if (stage === 'debias' && (buildVocab || flags.given('vocab'))) {
        throw new FlagError('stage 2 uses the vocabulary of its --init run; drop --vocab/--build-vocab');
      }
      // Only what is given: the rest comes from the preset's defaults.
      const hyper: Partial<Hyperparameters> = {};
      if (epochs !== undefined) hyper.epochs = epochs;
      const batch = flags.int('batch');
      if (batch !== undefined) hyper.batchSize = batch;
      const lr = flags.number('lr');
      if (lr !== undefined) hyper.learningRate = lr;
      const wd = flags.number('weight-decay');
      if (wd !== undefined) hyper.weightDecay = wd;
      const lrStep = flags.int('lr-step');
      if (lrStep !== undefined) hyper.lrStep = lrStep;
      const valN = flags.subsetSize('val-n');
      if (valN !== undefined) hyper.valN = valN;
      const valRuns = flags.int('val-runs');
      if (valRuns !== undefined) hyper.valRuns = valRuns;
      if (flags.given('select')) hyper.selectBy = flags.choice('select');
      const backend = await activateBackend(flags.string('backend'), ctx.log);
      prepared = await startRun({
        stage,
        root,
        out,
        preset,
        configFile: flags.string('config'),
        vocabFile: flags.string('vocab'),
        buildVocabMinCount: buildVocab ? flags.int('min-count') : undefined,
        labelsDir: flags.string('labels-dir'),
        cacheDir: flags.string('cache'),
        init: flags.string('init'),
        hyper,
        seed: flags.int('seed'),
        views: flags.int('views'),
        backendName: backend.name,
        resume: false,
        log: ctx.log,
      });
    }
    try {
      const h = prepared.info.hyperparameters;
      ctx.log(
        `${prepared.info.stage}: preset ${prepared.info.preset}, ${prepared.params.elementCount().toLocaleString('en')} parameters, ` +
        `vocab ${prepared.config.vocabSize}, ${prepared.config.classifier.labels} labels; epochs ${h.epochs}, batch ${h.batchSize}, ` +
        `lr ${h.learningRate}, weight decay ${h.weightDecay}, x${h.lrGamma} every ${h.lrStep} epochs`,
      );
      try {
        await trainEpochs(prepared, { log: ctx.log });
      } catch (err) {
        throw explainBackendFailure(err, prepared.info.backend, prepared.params.elementCount());
      }
      const info = prepared.info;
      const seconds = (performance.now() - started) / 1000;
      const best = info.best?.val;
      const sel = best?.debiased?.imageToRecipe ?? best?.imageToRecipe;
      return {
        data: { run: out, stage: info.stage, epochsDone: info.epochsDone, bestEpoch: info.bestEpoch, best: info.best, seconds },
        text: [
          `${info.stage} run ${out}: ${info.epochsDone} epochs in ${seconds.toFixed(0)} s`,
          sel ? `best epoch ${info.bestEpoch}: val image->recipe${best?.debiased ? ' (debiased)' : ''} R@1 ${sel.r1.toFixed(1)} R@5 ${sel.r5.toFixed(1)} R@10 ${sel.r10.toFixed(1)} medR ${sel.medR} (N=${best?.n})` : 'no epoch trained',
        ].join('\n'),
      };
    } finally {
      // After a failed step the backend may be unusable: a second error while freeing memory must not
      // hide the first one.
      try {
        prepared.dispose();
      } catch {
        /* the original error (or result) wins */
      }
    }
  },
};

/**
 * The wasm backend has a 4 GB heap: a model too big for it (the paper preset, ~200M parameters, with
 * its activations) aborts inside WebAssembly with "memory access out of bounds". Say what to do instead.
 */
function explainBackendFailure(err: unknown, backend: string, parameters: number): unknown {
  const message = (err as Error)?.message ?? String(err);
  if (backend === 'wasm' && /memory access out of bounds|out of memory|Aborted\(/i.test(message)) {
    return new UserError(
      `the model (${parameters.toLocaleString('en')} parameters) ran out of the wasm backend's 4 GB memory (${message}); ` +
      'train it with @tensorflow/tfjs-node-gpu or tfjs-node (see README), or use --preset cpu, a smaller --batch, or a --config with smaller sizes',
    );
  }
  return err;
}

/** --preset, refused by the model's own message when unknown. */
function presetFlag(flags: Flags<typeof OPTIONS>): PresetName {
  const preset = flags.string('preset');
  if (!(PRESET_NAMES as readonly string[]).includes(preset)) {
    throw new FlagError(`unknown model preset "${preset}" (expected one of: ${PRESET_NAMES.join(', ')})`);
  }
  return preset as PresetName;
}

async function runFineTune(args: ParsedArgs, flags: Flags<typeof OPTIONS>, ctx: CommandContext): Promise<CommandResult> {
  if (flags.raw('out') === undefined) throw new FlagError('--out is required (the run folder)');
  const out = flags.string('out');
  for (const flag of NOT_FOR_FINE_TUNE) {
    if (flags.given(flag)) throw new FlagError(`--${flag} does not apply to --fine-tune`);
  }
  const preset = presetFlag(flags);
  const defaults = defaultHyperparameters(preset, 'baseline');
  const backend = await activateBackend(flags.string('backend'), ctx.log);
  if (backend.name === 'wasm') {
    throw new UserError('--fine-tune: the wasm backend is not verified for convolution training; use --backend tfjs-node-gpu, tfjs-node or cpu');
  }
  ctx.log(`mode: fine-tune (ResNet layer2-4 and heads from photos: backend ${backend.name} has convolution gradients)`);
  const started = performance.now();
  const summary = await fineTune({
    root: args.positionals[0],
    out,
    init: flags.string('init'),
    preset,
    stemWidth: flags.int('stem-width') ?? (preset === 'tiny' ? 2 : 64),
    vocabFile: flags.string('vocab') ?? DEFAULT_VOCAB,
    labelsDir: flags.string('labels-dir'),
    dictionary: flags.string('dictionary'),
    backboneWeights: flags.string('backbone-weights'),
    epochs: flags.int('epochs') ?? defaults.epochs,
    batchSize: flags.int('batch') ?? defaults.batchSize,
    learningRate: flags.number('lr') ?? defaults.learningRate,
    weightDecay: flags.number('weight-decay') ?? defaults.weightDecay,
    lrStep: flags.int('lr-step') ?? defaults.lrStep,
    seed: flags.int('seed'),
    maxPairs: flags.int('max-pairs'),
    log: ctx.log,
  });
  const seconds = (performance.now() - started) / 1000;
  const first = summary.epochs[0];
  const last = summary.epochs[summary.epochs.length - 1];
  return {
    data: { run: out, mode: 'fine-tune', ...summary, seconds },
    text: [
      `fine-tune run ${out}: ${summary.epochs.length} epochs on ${summary.pairs} pairs in ${seconds.toFixed(0)} s`,
      `mean loss ${first.loss.toFixed(4)} (epoch 1) -> ${last.loss.toFixed(4)} (epoch ${last.epoch}); ${last.secondsPerImage.toFixed(2)} s/image`,
      `checkpoint: ${summary.checkpoint} (export with: recipe-retrieval export ${out} --out <model-dir>)`,
    ].join('\n'),
  };
}
