import { importSeedCheckpoint } from '../../import/import-checkpoint.js';
import { SEED_DEFAULT_HEADS } from '../../import/seed-state-dict.js';
import { evaluationFlag, FlagError, intFlag, stringFlag, type Command } from '../command.js';

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
(debiased_embedding = embedding); a stage-2 checkpoint (with Wv) needs --dictionary.

  --vocab FILE             the vocabulary the model was trained with (dict id -> word)
  --labels FILE            ing2label_topk*.pkl (ingredient name -> label), names the logits
  --dictionary FILE        ingredient_dict_textual.pkl (label -> list of line vectors); D = their means
  --out DIR                output folder (required); its name is the model id unless --id is given
  --id NAME                model id recorded in the manifest
  --recipe-heads N         attention heads of the recipe encoder (default ${SEED_DEFAULT_HEADS}, the seed's)
  --classifier-heads N     attention heads of query2labels (default ${SEED_DEFAULT_HEADS}, the seed's nheads)
                           (heads leave no trace in tensor shapes, so they cannot be read from the file)
  --evaluation FILE        the model's measured quality: what \`evaluate --json\` printed for it; recorded
                           in the manifest, shown by the server (/v1/info and the page)`,
  options: {
    vocab: { type: 'string' },
    labels: { type: 'string' },
    dictionary: { type: 'string' },
    out: { type: 'string' },
    id: { type: 'string' },
    'recipe-heads': { type: 'string' },
    'classifier-heads': { type: 'string' },
    evaluation: { type: 'string' },
  },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const out = stringFlag(args, 'out');
    if (!out) throw new FlagError('--out is required (e.g. --out models/ht-debias-paper)');
    const vocab = stringFlag(args, 'vocab');
    if (!vocab) throw new FlagError('--vocab is required (the vocab.pkl the model was trained with)');
    const labels = stringFlag(args, 'labels');
    if (!labels) throw new FlagError('--labels is required (ing2label_topk500.pkl for the paper model)');
    const summary = await importSeedCheckpoint({
      checkpoint: args.positionals[0],
      dictionary: stringFlag(args, 'dictionary'),
      vocab,
      labels,
      outDir: out,
      modelId: stringFlag(args, 'id'),
      recipeHeads: intFlag(args, 'recipe-heads', SEED_DEFAULT_HEADS, 1, 1024),
      classifierHeads: intFlag(args, 'classifier-heads', SEED_DEFAULT_HEADS, 1, 1024),
      evaluation: await evaluationFlag(args),
      log: ctx.log,
    });
    const sizes = Object.entries(summary.files).map(([name, f]) => `  ${name.padEnd(20)} ${(f.bytes / 1e6).toFixed(2).padStart(8)} MB  ${f.sha256.slice(0, 16)}`);
    const c = summary.config;
    const text = [
      `imported ${summary.modelId} to ${summary.outDir} in ${summary.seconds.toFixed(1)} s (debiasing ${summary.debiasActive ? 'on' : 'off'})`,
      `  config: vocab ${c.vocabSize}, recipe width ${c.recipe.width}, embedding ${c.embeddingDim}, classifier width ${c.classifier.width}, ${c.classifier.labels} labels`,
      ...sizes,
    ].join('\n');
    return { data: summary, text };
  },
};
