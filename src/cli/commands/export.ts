import { importSeedCheckpoint } from '../../import/import-checkpoint.js';
import { readFineTuneRun } from '../../train/fine-tune/fine-tune-run.js';
import { exportModel, type ImageExport } from '../../export/export-model.js';
import { evaluationFlag, type Command } from '../command.js';
import { backendOption, formatModelFiles, MODEL_FOLDER_OPTIONS } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const IMAGE_CHOICES: readonly ImageExport[] = ['full', 'head', 'both'];

const OPTIONS = defineOptions({
  out: MODEL_FOLDER_OPTIONS.out,
  id: MODEL_FOLDER_OPTIONS.id,
  image: {
    type: 'string', value: 'I', choices: IMAGE_CHOICES, default: 'both',
    description: 'which image graphs to write (head only for a backbone\nother than the 2048-channel ResNet-50)',
  },
  'no-backbone-check': {
    type: 'boolean',
    description: 'skip comparing the composed backbone with the run\'s feature cache hash and\nwith TF.js on a probe image',
  },
  backend: backendOption('wasm', 'TF.js backend of that check'),
  evaluation: MODEL_FOLDER_OPTIONS.evaluation,
});

export const exportCommand: Command = {
  name: 'export',
  summary: 'export a trained run to ONNX (image encoder, recipe encoder, manifest)',
  help: `Usage: recipe-retrieval export <run-dir> --out models/<model-id> [options]

Writes into the output folder (atomically; manifest.json last, so a folder with a manifest is complete):
  image_encoder.onnx   image uint8 [batch,224,224,3] RGB centre crop -> embedding [batch,E],
                       ingredient_logits [batch,K], debiased_embedding [batch,E]
                       (Keras ResNet-50 with caffe preprocessing in-graph, then the model's head)
  image_head.onnx      the same outputs from feature_map float [batch,7,7,C] (cached backbone features)
  recipe_encoder.onnx  title [batch,T], ingredients [batch,L,T], instructions [batch,L,T] int64
                       word ids (0 = padding) -> embedding [batch,E]
  vocab.pkl, labels.json, manifest.json (config, interfaces, preprocessing, sha256 of every file)
For a model without the debiasing projection Wv, debiased_embedding equals embedding.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const out = flags.string('out');
    const image = flags.choice('image');
    const backend = flags.choice('backend');
    const fineTuned = await readFineTuneRun(args.positionals[0]);
    if (fineTuned) {
      // A fine-tuning run holds a seed-format checkpoint: the importer turns it into the model folder.
      const imported = await importSeedCheckpoint({
        checkpoint: fineTuned.checkpoint, vocab: fineTuned.vocab, labels: fineTuned.labels, dictionary: fineTuned.dictionary,
        outDir: out, modelId: flags.string('id'), log: ctx.log,
      });
      return { data: imported, text: `exported fine-tune run ${args.positionals[0]} to ${imported.outDir} in ${imported.seconds.toFixed(1)} s (debiasing ${imported.debiasActive ? 'on' : 'off'})` };
    }
    const summary = await exportModel({
      runDir: args.positionals[0],
      outDir: out,
      modelId: flags.string('id'),
      image,
      backboneCheck: !flags.bool('no-backbone-check'),
      backend,
      evaluation: await evaluationFlag(flags.string('evaluation')),
      log: ctx.log,
    });
    const text = [
      `exported ${summary.modelId} to ${summary.outDir} in ${summary.seconds.toFixed(1)} s (debiasing ${summary.debiasActive ? 'on' : 'off'})`,
      ...formatModelFiles(summary.files),
      ...(summary.checks.backbone ? [`backbone check: ${JSON.stringify(summary.checks.backbone)}`] : []),
    ].join('\n');
    return { data: summary, text };
  },
};
