import { importSeedCheckpoint } from '../../import/import-checkpoint.js';
import { SEED_DEFAULT_HEADS } from '../../import/seed-state-dict.js';
import { evaluationFlag, type Command } from '../command.js';
import { formatModelFiles, MODEL_FOLDER_OPTIONS } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const OPTIONS = defineOptions({
  vocab: {
    type: 'string', value: 'FILE', description: 'the vocabulary the model was trained with (dict id -> word)',
    required: 'the vocab.pkl the model was trained with',
  },
  labels: {
    type: 'string', value: 'FILE', description: 'ing2label_topk*.pkl (ingredient name -> label), names the logits',
    required: 'ing2label_topk500.pkl for the paper model',
  },
  dictionary: { type: 'string', value: 'FILE', description: 'ingredient_dict_textual.pkl (label -> list of line vectors); D = their means' },
  out: { ...MODEL_FOLDER_OPTIONS.out, required: 'e.g. --out models/ht-debias-paper' },
  id: MODEL_FOLDER_OPTIONS.id,
  'recipe-heads': {
    type: 'string', value: 'N', description: 'attention heads of the recipe encoder (the seed\'s)',
    default: SEED_DEFAULT_HEADS, min: 1, max: 1024,
  },
  'classifier-heads': {
    type: 'string', value: 'N',
    description: 'attention heads of query2labels (the seed\'s nheads); heads leave no trace in\ntensor shapes, so they cannot be read from the file',
    default: SEED_DEFAULT_HEADS, min: 1, max: 1024,
  },
  evaluation: MODEL_FOLDER_OPTIONS.evaluation,
});

export const importCheckpointCommand: Command = {
  name: 'import-checkpoint',
  summary: "import the paper's published PyTorch checkpoint into an ONNX model folder",
  help: `Usage: recipe-retrieval import-checkpoint <checkpoint.pth.tar> --vocab <vocab.pkl> --labels <ing2label.pkl>
         [--dictionary <ingredient_dict_textual.pkl>] --out models/<model-id> [options]

Reads a checkpoint saved by the seed's training scripts (torch.save, zip or legacy pre-1.6 format;
only its state_dict is read, the optimizer state is skipped) and writes the same folder \`export\` does:
  image_encoder.onnx   image uint8 [batch,224,224,3] RGB centre crop -> embedding, ingredient_logits,
                       debiased_embedding (torchvision ResNet-50, ImageNet normalisation in-graph)
  recipe_encoder.onnx  title / ingredients / instructions int64 word ids -> embedding
  vocab.pkl, labels.json, manifest.json
Every size is read from the tensor shapes; a key that is missing, unexpected or mis-shaped is
refused by name and nothing is written. A stage-1 checkpoint imports without a dictionary
(debiased_embedding = embedding); a stage-2 checkpoint (with Wv) needs --dictionary.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const out = flags.string('out');
    const vocab = flags.string('vocab');
    const labels = flags.string('labels');
    const summary = await importSeedCheckpoint({
      checkpoint: args.positionals[0],
      dictionary: flags.string('dictionary'),
      vocab,
      labels,
      outDir: out,
      modelId: flags.string('id'),
      recipeHeads: flags.int('recipe-heads'),
      classifierHeads: flags.int('classifier-heads'),
      evaluation: await evaluationFlag(flags.string('evaluation')),
      log: ctx.log,
    });
    const c = summary.config;
    const text = [
      `imported ${summary.modelId} to ${summary.outDir} in ${summary.seconds.toFixed(1)} s (debiasing ${summary.debiasActive ? 'on' : 'off'})`,
      `  config: vocab ${c.vocabSize}, recipe width ${c.recipe.width}, embedding ${c.embeddingDim}, classifier width ${c.classifier.width}, ${c.classifier.labels} labels`,
      ...formatModelFiles(summary.files),
    ].join('\n');
    return { data: summary, text };
  },
};
