import { UserError } from '../../util/errors.js';
import { PRESET_NAMES, type PresetName } from '../../model/config.js';
import { BACKEND_REQUESTS } from '../../tf/backend.js';
import { activateBackend } from '../../train/backend-setup.js';
import { numberFlag, subsetSizeFlag } from '../../train/cli-flags.js';
import { SELECTION_METRICS, STAGES, type Hyperparameters, type SelectionMetric, type Stage } from '../../train/hyperparameters.js';
import { resumeRun, startRun } from '../../train/run-setup.js';
import { trainEpochs } from '../../train/trainer.js';
import { fineTune } from '../../train/fine-tune/fine-tune-run.js';
import { DEFAULT_VOCAB } from '../../train/run-setup.js';
import { defaultHyperparameters } from '../../train/hyperparameters.js';
import type { ParsedArgs, CommandContext, CommandResult } from '../command.js';
import { FlagError, intFlag, stringFlag, type Command } from '../command.js';

/** Flags that --resume takes from run.json instead (only --epochs and --backend may be given). */
const FIXED_ON_RESUME = [
  'preset', 'config', 'vocab', 'build-vocab', 'min-count', 'labels-dir', 'cache', 'init', 'batch', 'lr',
  'weight-decay', 'lr-step', 'seed', 'views', 'val-n', 'val-runs', 'select',
];

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
--select). DIR also gets vocab.pkl and labels.json (and, in stage 2, a copy of the dictionary): a complete model folder.

  --stage S          baseline or debias (required)
  --out DIR          run folder (required; must not hold a run unless --resume)
  --init DIR         stage 2: the stage-1 run folder
  --preset P         ${PRESET_NAMES.join(' | ')} (default paper; stage 2 takes the sizes of --init)
  --config FILE      JSON overriding preset sizes, e.g. {"embeddingDim": 256, "classifier": {"width": 128}}
  --vocab FILE       vocabulary (default models/recipe1m-vocab/vocab.pkl)
  --build-vocab      build the vocabulary from the paired training text instead
  --min-count N      with --build-vocab: keep words seen N times (default 10, as Recipe1M)
  --labels-dir DIR   folder of the label files (default the dataset root)
  --cache DIR        feature cache (default <dataset-root>/.cache/features)
  --epochs E         epochs (paper 100, cpu 25, tiny 2)
  --batch B          pairs per step (paper 64, cpu 32, tiny 4)
  --lr X             AdamW learning rate (paper 1e-4, cpu 5e-4, tiny 1e-3)
  --weight-decay X   AdamW decoupled weight decay (default 0.01)
  --lr-step E        epochs between learning-rate drops x0.1 (paper 30, cpu 20)
  --seed S           seed of initial weights, batch order, views and dropout (default 1)
  --views K          use augmented train views 1..K (default every view in the cache; 0 = centre crop only)
  --val-n N|all      validation subset size (default 1000; all when the split has fewer pairs)
  --val-runs R       validation subsets averaged (default 10)
  --select M         r1 (image->recipe R@1, the paper; default) or rsum (R@1+R@5+R@10 of both
                     directions: steadier on a validation split of a few dozen pairs)
  --backend B        ${BACKEND_REQUESTS.join(' | ')} (default auto)
  --resume           continue DIR from last/ with its saved settings (only --epochs and --backend may change)

Fine-tuning (--fine-tune): trains ResNet layer2-4 together with the heads from the photos, as the
seed does (stem and layer1 frozen, BatchNorm in training mode, the seed's losses and AdamW, StepLR
per epoch, train transform Resize(256) -> RandomCrop(224) + RandomHorizontalFlip, seeded). Needs a
backend with convolution gradients: tfjs-node-gpu (the practical one), tfjs-node or cpu. Writes
DIR/checkpoint.pth.tar in the seed's own format after each epoch, and DIR/fine-tune.json;
\`recipe-retrieval export DIR --out MODEL\` turns it into a model folder. verify-train-step checks
the step against the seed's on your backend. Stage 2 when --init has Wv (then --dictionary).
  --fine-tune        train end to end from photos (no feature cache)
  --init FILE        a seed checkpoint (.pth.tar, stage 1 or 2) to start from
  --stem-width N     without --init: ResNet stem width (64 = ResNet-50; the tiny preset uses 2)
  --backbone-weights FILE  without --init: torchvision's ImageNet resnet50 .pth for the trunk (either
                     torch.save format: zip, or legacy pre-1.6 such as resnet50-19c8e357.pth)
  --dictionary FILE  stage 2: ingredient_dict_textual.pkl
  --max-pairs N      train on the first N paired recipes only`,
  options: {
    stage: { type: 'string' },
    out: { type: 'string' },
    init: { type: 'string' },
    preset: { type: 'string' },
    config: { type: 'string' },
    vocab: { type: 'string' },
    'build-vocab': { type: 'boolean' },
    'min-count': { type: 'string' },
    'labels-dir': { type: 'string' },
    cache: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    'weight-decay': { type: 'string' },
    'lr-step': { type: 'string' },
    seed: { type: 'string' },
    views: { type: 'string' },
    'val-n': { type: 'string' },
    'val-runs': { type: 'string' },
    select: { type: 'string' },
    backend: { type: 'string' },
    resume: { type: 'boolean' },
    'fine-tune': { type: 'boolean' },
    'stem-width': { type: 'string' },
    dictionary: { type: 'string' },
    'max-pairs': { type: 'string' },
    'backbone-weights': { type: 'string' },
  },
  positionals: { min: 1, max: 1 },
  tfjsAdvice: true,
  async run(args, ctx) {
    if (args.values['fine-tune'] === true) return runFineTune(args, ctx);
    for (const flag of ['stem-width', 'dictionary', 'max-pairs', 'backbone-weights']) {
      if (args.values[flag] !== undefined) throw new FlagError(`--${flag} goes with --fine-tune`);
    }
    ctx.log('mode: frozen-feature (cached backbone features, backbone not trained; --fine-tune trains ResNet layer2-4 from photos on a backend with convolution gradients)');
    const root = args.positionals[0];
    const stage = stringFlag(args, 'stage');
    if (stage === undefined) throw new FlagError(`--stage is required (${STAGES.join(' or ')})`);
    if (!(STAGES as readonly string[]).includes(stage)) throw new FlagError(`--stage must be ${STAGES.join(' or ')}, got "${stage}"`);
    const out = stringFlag(args, 'out');
    if (out === undefined) throw new FlagError('--out is required (the run folder, e.g. runs/baseline)');
    const epochs = stringFlag(args, 'epochs') === undefined ? undefined : intFlag(args, 'epochs', 1, 1, 100_000);
    const resume = args.values.resume === true;
    const started = performance.now();

    let prepared;
    if (resume) {
      const fixed = FIXED_ON_RESUME.filter((name) => args.values[name] !== undefined);
      if (fixed.length) throw new FlagError(`--resume takes its settings from run.json; drop --${fixed.join(', --')}`);
      const backend = await activateBackend(stringFlag(args, 'backend') ?? 'auto', ctx.log);
      prepared = await resumeRun(out, epochs, ctx.log);
      if (prepared.info.stage !== stage) throw new FlagError(`${out} is a ${prepared.info.stage} run, not ${stage}`);
      prepared.info.backend = backend.name;
    } else {
      const preset = stringFlag(args, 'preset') ?? 'paper';
      if (!(PRESET_NAMES as readonly string[]).includes(preset)) {
        throw new FlagError(`unknown model preset "${preset}" (expected one of: ${PRESET_NAMES.join(', ')})`);
      }
      const buildVocab = args.values['build-vocab'] === true;
      if (buildVocab && stringFlag(args, 'vocab') !== undefined) throw new FlagError('give either --vocab or --build-vocab, not both');
      if (!buildVocab && stringFlag(args, 'min-count') !== undefined) throw new FlagError('--min-count goes with --build-vocab');
      if (stage === 'debias' && (stringFlag(args, 'preset') !== undefined || stringFlag(args, 'config') !== undefined)) {
        throw new FlagError('stage 2 trains the model of its --init run (its sizes and preset defaults); drop --preset/--config');
      }
      if (stage === 'debias' && (buildVocab || stringFlag(args, 'vocab') !== undefined)) {
        throw new FlagError('stage 2 uses the vocabulary of its --init run; drop --vocab/--build-vocab');
      }
      const hyper: Partial<Hyperparameters> = {};
      if (epochs !== undefined) hyper.epochs = epochs;
      if (stringFlag(args, 'batch') !== undefined) hyper.batchSize = intFlag(args, 'batch', 1, 2, 100_000);
      const lr = numberFlag(args, 'lr');
      if (lr !== undefined) hyper.learningRate = lr;
      const wd = numberFlag(args, 'weight-decay', { allowZero: true });
      if (wd !== undefined) hyper.weightDecay = wd;
      if (stringFlag(args, 'lr-step') !== undefined) hyper.lrStep = intFlag(args, 'lr-step', 1, 1, 100_000);
      const valN = subsetSizeFlag(args, 'val-n');
      if (valN !== undefined) hyper.valN = valN;
      if (stringFlag(args, 'val-runs') !== undefined) hyper.valRuns = intFlag(args, 'val-runs', 1, 1, 1000);
      const select = stringFlag(args, 'select');
      if (select !== undefined) {
        if (!(SELECTION_METRICS as readonly string[]).includes(select)) throw new FlagError(`--select must be ${SELECTION_METRICS.join(' or ')}, got "${select}"`);
        hyper.selectBy = select as SelectionMetric;
      }
      const backend = await activateBackend(stringFlag(args, 'backend') ?? 'auto', ctx.log);
      prepared = await startRun({
        stage: stage as Stage,
        root,
        out,
        preset: preset as PresetName,
        configFile: stringFlag(args, 'config'),
        vocabFile: stringFlag(args, 'vocab'),
        buildVocabMinCount: buildVocab ? intFlag(args, 'min-count', 10, 1, 1_000_000) : undefined,
        labelsDir: stringFlag(args, 'labels-dir'),
        cacheDir: stringFlag(args, 'cache'),
        init: stringFlag(args, 'init'),
        hyper,
        seed: intFlag(args, 'seed', 1, 0, 2 ** 32 - 1),
        views: stringFlag(args, 'views') === undefined ? undefined : intFlag(args, 'views', 0, 0, 1000),
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

async function runFineTune(args: ParsedArgs, ctx: CommandContext): Promise<CommandResult> {
  const out = stringFlag(args, 'out');
  if (out === undefined) throw new FlagError('--out is required (the run folder)');
  for (const flag of ['resume', 'cache', 'views', 'val-n', 'val-runs', 'select', 'build-vocab', 'config']) {
    if (args.values[flag] !== undefined) throw new FlagError(`--${flag} does not apply to --fine-tune`);
  }
  const preset = stringFlag(args, 'preset') ?? 'paper';
  if (!(PRESET_NAMES as readonly string[]).includes(preset)) throw new FlagError(`unknown model preset "${preset}" (expected one of: ${PRESET_NAMES.join(', ')})`);
  const defaults = defaultHyperparameters(preset as PresetName, 'baseline');
  const backend = await activateBackend(stringFlag(args, 'backend') ?? 'auto', ctx.log);
  if (backend.name === 'wasm') {
    throw new UserError('--fine-tune: the wasm backend is not verified for convolution training; use --backend tfjs-node-gpu, tfjs-node or cpu');
  }
  ctx.log(`mode: fine-tune (ResNet layer2-4 and heads from photos: backend ${backend.name} has convolution gradients)`);
  const started = performance.now();
  const summary = await fineTune({
    root: args.positionals[0],
    out,
    init: stringFlag(args, 'init'),
    preset: preset as PresetName,
    stemWidth: intFlag(args, 'stem-width', preset === 'tiny' ? 2 : 64, 1, 1024),
    vocabFile: stringFlag(args, 'vocab') ?? DEFAULT_VOCAB,
    labelsDir: stringFlag(args, 'labels-dir'),
    dictionary: stringFlag(args, 'dictionary'),
    backboneWeights: stringFlag(args, 'backbone-weights'),
    epochs: intFlag(args, 'epochs', defaults.epochs, 1, 100_000),
    batchSize: intFlag(args, 'batch', defaults.batchSize, 2, 100_000),
    learningRate: numberFlag(args, 'lr') ?? defaults.learningRate,
    weightDecay: numberFlag(args, 'weight-decay', { allowZero: true }) ?? defaults.weightDecay,
    lrStep: intFlag(args, 'lr-step', defaults.lrStep, 1, 100_000),
    seed: intFlag(args, 'seed', 1, 0, 2 ** 32 - 1),
    maxPairs: stringFlag(args, 'max-pairs') === undefined ? undefined : intFlag(args, 'max-pairs', 2, 2, 100_000_000),
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
