import { isSplit, SPLITS, type Split } from '../../data/recipe.js';
import { MAX_EF } from '../../index/recipe-index.js';
import { buildDatasetIndex, DEFAULT_EF_SEARCH } from '../../index/runners/dataset-index.js';
import { DEVICES, deviceFlag, FlagError, intFlag, stringFlag, type Command } from '../command.js';

/** --split: one split, a comma list (indexed in that order) or `all` (train, val, test). */
export function splitsFlag(value: string | undefined): Split[] {
  const raw = value ?? 'test';
  const names = raw === 'all' ? [...SPLITS] : raw.split(',').map((s) => s.trim());
  const bad = names.filter((s) => !isSplit(s));
  if (names.length === 0 || bad.length) throw new FlagError(`--split must be one of ${SPLITS.join(', ')}, a comma list of them, or all; got "${raw}"`);
  if (new Set(names).size !== names.length) throw new FlagError(`--split names a split twice: "${raw}"`);
  return names as Split[];
}

export const indexCommand: Command = {
  name: 'index',
  summary: 'embed the recipes of one or more splits with an exported model and build the HNSW search index',
  help: `Usage: recipe-retrieval index <dataset-root> --model models/<id> --out index-data/<index-id> [options]

Embeds every recipe of the splits with the model's ONNX recipe encoder (batched; progress on
stderr; an interrupted run resumes where it stopped), builds an HNSW index (cosine similarity on
L2-normalised vectors) and writes, manifest.json last: hnsw.bin, embeddings.f32, recipes.json
(id, title, ingredients, instructions, image names and split of every recipe; the photos stay in
the dataset's image tree of that split) and manifest.json (model id + manifest sha256, dataset
root, splits).

  --model DIR        exported model folder (recipe-retrieval export) (required)
  --out DIR          index folder to write (required)
  --split S          ${SPLITS.join(', ')}, a comma list (train,test) or all (= ${SPLITS.join(',')}); a split
                     whose <split>.pkl is absent is skipped with a log line (default test)
  --with-noimages    also index each split's text-only recipes (<split>_noimages.pkl)
  --device D         ${DEVICES.join(' | ')} (default auto: CUDA when onnxruntime can start it, else CPU)
  --batch-size N     recipes per committed chunk (default 64)
  --ef-search N      default search breadth stored in the index (default ${DEFAULT_EF_SEARCH})
  --m N              HNSW links per node (default 16)
  --ef-construction N  HNSW build breadth (default 200)`,
  options: {
    model: { type: 'string' },
    out: { type: 'string' },
    split: { type: 'string' },
    'with-noimages': { type: 'boolean' },
    device: { type: 'string' },
    'batch-size': { type: 'string' },
    'ef-search': { type: 'string' },
    m: { type: 'string' },
    'ef-construction': { type: 'string' },
  },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const modelDir = stringFlag(args, 'model');
    if (!modelDir) throw new FlagError('--model is required (an exported model folder, e.g. models/<id>)');
    const outDir = stringFlag(args, 'out');
    if (!outDir) throw new FlagError('--out is required (e.g. --out index-data/<index-id>)');
    const summary = await buildDatasetIndex({
      datasetRoot: args.positionals[0],
      splits: splitsFlag(stringFlag(args, 'split')),
      withNoImages: args.values['with-noimages'] === true,
      modelDir,
      outDir,
      device: deviceFlag(stringFlag(args, 'device')),
      batchSize: intFlag(args, 'batch-size', 64, 1, 4096),
      hnsw: {
        efSearch: intFlag(args, 'ef-search', DEFAULT_EF_SEARCH, 1, MAX_EF),
        M: intFlag(args, 'm', 16, 2, 256),
        efConstruction: intFlag(args, 'ef-construction', 200, 1, 10_000),
      },
      log: ctx.log,
    });
    const { manifest } = summary;
    const text = [
      `indexed ${summary.count} recipes of ${summary.splits.join(', ')} (${summary.paired} with photos, ${summary.textOnly} text-only) into ${summary.outDir}`,
      `model ${manifest.model.id}, width ${summary.dim}, provider ${summary.provider}${summary.resumedFrom ? `, resumed at row ${summary.resumedFrom}` : ''}`,
      `embedding ${summary.embedSeconds.toFixed(1)} s, HNSW build ${summary.buildSeconds.toFixed(1)} s (M ${manifest.hnsw.M}, efConstruction ${manifest.hnsw.efConstruction}, efSearch ${manifest.hnsw.efSearch})`,
    ].join('\n');
    return { data: { ...summary, manifest }, text };
  },
};
