import { importSeedCheckpoint } from '../../import/import-checkpoint.js';
import { readFineTuneRun } from '../../train/fine-tune/fine-tune-run.js';
import { exportModel, type ImageExport } from '../../export/export-model.js';
import { BACKEND_REQUESTS } from '../../tf/backend.js';
import { backendFlag, evaluationFlag, FlagError, stringFlag, type Command } from '../command.js';

const IMAGE_CHOICES: readonly ImageExport[] = ['full', 'head', 'both'];

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
For a model without the debiasing projection Wv, debiased_embedding equals embedding.

  --out DIR            output folder (required); its name is the model id unless --id is given
  --id NAME            model id recorded in the manifest
  --image full|head|both   which image graphs to write (default both; head only for a backbone
                       other than the 2048-channel ResNet-50)
  --no-backbone-check  skip comparing the composed backbone with the run's feature cache hash and
                       with TF.js on a probe image
  --backend B          TF.js backend of that check: ${BACKEND_REQUESTS.join(' | ')} (default wasm)
  --evaluation FILE    the model's measured quality: what \`evaluate --json\` printed for the run;
                       recorded in the manifest, shown by the server (/v1/info and the page)`,
  options: {
    out: { type: 'string' },
    id: { type: 'string' },
    image: { type: 'string' },
    'no-backbone-check': { type: 'boolean' },
    backend: { type: 'string' },
    evaluation: { type: 'string' },
  },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const out = stringFlag(args, 'out');
    if (!out) throw new FlagError('--out is required (e.g. --out models/my-model)');
    const image = stringFlag(args, 'image') ?? 'both';
    if (!(IMAGE_CHOICES as readonly string[]).includes(image)) throw new FlagError(`--image must be one of ${IMAGE_CHOICES.join(', ')}, got "${image}"`);
    const backend = backendFlag(args, 'wasm');
    const fineTuned = await readFineTuneRun(args.positionals[0]);
    if (fineTuned) {
      // A fine-tuning run holds a seed-format checkpoint: the importer turns it into the model folder.
      const imported = await importSeedCheckpoint({
        checkpoint: fineTuned.checkpoint, vocab: fineTuned.vocab, labels: fineTuned.labels, dictionary: fineTuned.dictionary,
        outDir: out, modelId: stringFlag(args, 'id'), log: ctx.log,
      });
      return { data: imported, text: `exported fine-tune run ${args.positionals[0]} to ${imported.outDir} in ${imported.seconds.toFixed(1)} s (debiasing ${imported.debiasActive ? 'on' : 'off'})` };
    }
    const summary = await exportModel({
      runDir: args.positionals[0],
      outDir: out,
      modelId: stringFlag(args, 'id'),
      image: image as ImageExport,
      backboneCheck: args.values['no-backbone-check'] !== true,
      backend,
      evaluation: await evaluationFlag(args),
      log: ctx.log,
    });
    const sizes = Object.entries(summary.files).map(([name, f]) => `  ${name.padEnd(20)} ${(f.bytes / 1e6).toFixed(2).padStart(8)} MB  ${f.sha256.slice(0, 16)}`);
    const text = [
      `exported ${summary.modelId} to ${summary.outDir} in ${summary.seconds.toFixed(1)} s (debiasing ${summary.debiasActive ? 'on' : 'off'})`,
      ...sizes,
      ...(summary.checks.backbone ? [`backbone check: ${JSON.stringify(summary.checks.backbone)}`] : []),
    ].join('\n');
    return { data: summary, text };
  },
};
