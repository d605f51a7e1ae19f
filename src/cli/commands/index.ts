import { isSplit, SPLITS, type Split } from '../../data/recipe.js';
import { MAX_EF } from '../../index/recipe-index.js';
import { buildDatasetIndex, DEFAULT_EF_SEARCH } from '../../index/runners/dataset-index.js';
import { FlagError, type Command } from '../command.js';
import { deviceOption, EXPORTED_MODEL_OPTION } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

/** --split: one split, a comma list (indexed in that order) or `all` (train, val, test). */
export function splitsFlag(raw: string): Split[] {
  const names = raw === 'all' ? [...SPLITS] : raw.split(',').map((s) => s.trim());
  const bad = names.filter((s) => !isSplit(s));
  if (names.length === 0 || bad.length) throw new FlagError(`--split must be one of ${SPLITS.join(', ')}, a comma list of them, or all; got "${raw}"`);
  if (new Set(names).size !== names.length) throw new FlagError(`--split names a split twice: "${raw}"`);
  return names as Split[];
}

const OPTIONS = defineOptions({
  model: EXPORTED_MODEL_OPTION,
  out: { type: 'string', value: 'DIR', description: 'index folder to write', required: 'e.g. --out index-data/<index-id>' },
  split: {
    type: 'string', value: 'S', default: 'test',
    description: `${SPLITS.join(', ')}, a comma list (train,test) or all (= ${SPLITS.join(',')}); a split\nwhose <split>.pkl is absent is skipped with a log line`,
  },
  'with-noimages': { type: 'boolean', description: 'also index each split\'s text-only recipes (<split>_noimages.pkl)' },
  device: deviceOption(),
  'batch-size': { type: 'string', value: 'N', description: 'recipes per committed chunk', default: 64, min: 1, max: 4096 },
  'ef-search': { type: 'string', value: 'N', description: 'default search breadth stored in the index', default: DEFAULT_EF_SEARCH, min: 1, max: MAX_EF },
  m: { type: 'string', value: 'N', description: 'HNSW links per node', default: 16, min: 2, max: 256 },
  'ef-construction': { type: 'string', value: 'N', description: 'HNSW build breadth', default: 200, min: 1, max: 10_000 },
});

export const indexCommand: Command = {
  name: 'index',
  summary: 'embed the recipes of one or more splits with an exported model and build the HNSW search index',
  help: `Usage: recipe-retrieval index <dataset-root> --model models/<id> --out index-data/<index-id> [options]

Embeds every recipe of the splits with the model's ONNX recipe encoder (batched; progress on
stderr; an interrupted run resumes where it stopped), builds an HNSW index (cosine similarity on
L2-normalised vectors) and writes, manifest.json last: hnsw.bin, embeddings.f32, recipes.json
(id, title, ingredients, instructions, image names and split of every recipe; the photos stay in
the dataset's image tree of that split) and manifest.json (model id + manifest sha256, dataset
root, splits).`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const modelDir = flags.string('model');
    const outDir = flags.string('out');
    const summary = await buildDatasetIndex({
      datasetRoot: args.positionals[0],
      splits: splitsFlag(flags.string('split')),
      withNoImages: flags.bool('with-noimages'),
      modelDir,
      outDir,
      device: flags.choice('device'),
      batchSize: flags.int('batch-size'),
      hnsw: {
        efSearch: flags.int('ef-search'),
        M: flags.int('m'),
        efConstruction: flags.int('ef-construction'),
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
