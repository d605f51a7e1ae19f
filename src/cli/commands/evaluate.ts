import { existsSync } from 'node:fs';
import path from 'node:path';
import { SPLITS } from '../../data/recipe.js';
import type { RankMetrics } from '../../eval/metrics.js';
import { MANIFEST_FILE } from '../../export/io-spec.js';
import { evaluateExport } from '../../eval/runners/evaluate-export.js';
import { BACKEND_REQUESTS } from '../../tf/backend.js';
import { activateBackend } from '../../train/backend-setup.js';
import { subsetSizeFlag } from '../../train/cli-flags.js';
import type { EvaluationReport } from '../../eval/report.js';
import { evaluateModel } from '../../eval/runners/evaluate-model.js';
import { openModelSource } from '../../eval/runners/model-source.js';
import { deviceFlag, FlagError, precisionFlag, intFlag, splitFlag, stringFlag, type Command } from '../command.js';

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'rank a split\'s image-recipe pairs with a trained model (medR, R@1/5/10, both directions)',
  help: `Usage: recipe-retrieval evaluate --model DIR <dataset-root> [options]

Embeds every pair of the split and ranks by cosine similarity (HT's protocol): for subset size N, --runs seeded subsets of N pairs,
mean medR and R@1/5/10 (%), image->recipe and recipe->image. A model with a dictionary is reported
with e_I alone ("plain") and with ẽ_I = e_I + pi V ("debiased"). "chance" is the expected value of a
random ranking of the same gallery: R@K = K/G, medR = (G+1)/2.

A run folder (TF.js checkpoint) embeds the first image's view-0 features from the feature cache;
an exported model folder (models/<id>/ with manifest.json, from export or import-checkpoint) runs
image_encoder.onnx on the first photo of each pair (test transform) and recipe_encoder.onnx on the
recipes, as the server's evaluations do, and needs no feature cache.

  --model DIR        a run folder (runs/<name>, models/demo-run) or an exported model folder
                     (models/<id>, e.g. models/demo) (required)
  --split S          ${SPLITS.join(', ')} (default test)
  --n N|all          pairs per subset (default 1000, or all when the split has fewer)
  --runs R           subsets averaged (default 10; one ranking with all)
  --seed S           seed of the subsets (default 0)
  --with-noimages    also image->recipe with the split's text-only recipes added to the gallery
  --random-init      replace the weights by a fresh random initialisation (measured chance level;
                     run folders only)
  --init-seed S      seed of --random-init (default 1)
  --cache DIR        feature cache (default <dataset-root>/.cache/features; run folders only)
  --backend B        ${BACKEND_REQUESTS.join(' | ')} (default auto; run folders only)
  --device D         auto | cuda | cpu: where onnxruntime runs an export (default auto)
  --precision P      fp32 | int8: an export's image encoder, int8 = the one quantize made (default fp32)`,
  options: {
    model: { type: 'string' },
    split: { type: 'string' },
    n: { type: 'string' },
    runs: { type: 'string' },
    seed: { type: 'string' },
    'with-noimages': { type: 'boolean' },
    'random-init': { type: 'boolean' },
    'init-seed': { type: 'string' },
    cache: { type: 'string' },
    backend: { type: 'string' },
    device: { type: 'string' },
    precision: { type: 'string' },
  },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const modelDir = stringFlag(args, 'model');
    if (modelDir === undefined) throw new FlagError('--model is required (a run folder, models/demo-run, or an exported model folder such as models/demo)');
    const split = splitFlag(args, 'test');
    const n = subsetSizeFlag(args, 'n');
    const runs = intFlag(args, 'runs', 10, 1, 10_000);
    const seed = intFlag(args, 'seed', 0, 0, 2 ** 32 - 1);
    const randomInit = args.values['random-init'] === true;
    if (!randomInit && stringFlag(args, 'init-seed') !== undefined) throw new FlagError('--init-seed goes with --random-init');
    const withNoImages = args.values['with-noimages'] === true;
    const root = args.positionals[0];
    // An export is recognised by its manifest; evaluateExport reads and verifies it.
    if (existsSync(path.join(modelDir, MANIFEST_FILE))) {
      if (randomInit) throw new FlagError(`--random-init needs a run folder: ${modelDir} is an ONNX export, whose weights are fixed in its graphs (evaluate its source run with --random-init for chance level)`);
      for (const flag of ['cache', 'backend'] as const) {
        if (stringFlag(args, flag) !== undefined) throw new FlagError(`--${flag} applies to run folders only: ${modelDir} is an ONNX export, evaluated from photos`);
      }
      const device = deviceFlag(stringFlag(args, 'device'));
      const precision = precisionFlag(stringFlag(args, 'precision'));
      const report = await evaluateExport(modelDir, { root, split, n, runs, seed, withNoImages, device, precision, log: ctx.log });
      return { data: report, text: formatReport(report) };
    }
    if (stringFlag(args, 'precision') !== undefined) throw new FlagError(`--precision applies to exported model folders only (${modelDir} has no ${MANIFEST_FILE})`);
    if (stringFlag(args, 'device') !== undefined) throw new FlagError(`--device applies to exported model folders only (${modelDir} has no ${MANIFEST_FILE}); run folders use --backend`);
    await activateBackend(stringFlag(args, 'backend') ?? 'auto', ctx.log);
    const source = await openModelSource(modelDir, { randomInitSeed: randomInit ? intFlag(args, 'init-seed', 1, 0, 2 ** 32 - 1) : undefined });
    try {
      const report = await evaluateModel(source, {
        root, split, n, runs, seed, withNoImages,
        cacheDir: stringFlag(args, 'cache'), log: ctx.log,
      });
      return { data: report, text: formatReport(report) };
    } finally {
      source.dispose();
    }
  },
};

function row(label: string, m: RankMetrics): string {
  const f = (v: number) => v.toFixed(1).padStart(6);
  return `${label.padEnd(34)}${String(Number(m.medR.toFixed(1))).padStart(6)}${f(m.r1)}${f(m.r5)}${f(m.r10)}`;
}

function formatReport(r: EvaluationReport): string {
  const m = r.model;
  const about = m.format === 'onnx-export'
    ? `ONNX export ${m.modelId}, ${m.stage}${m.epoch !== undefined ? `, epoch ${m.epoch}` : ''}, on ${m.provider}${m.precision === 'int8' ? ', int8 image encoder' : ''}`
    : `${m.stage}, epoch ${m.epoch}${m.randomInit ? ', RANDOM weights' : ''}`;
  const lines = [
    `${m.dir} (${about}) on ${r.split}: ` +
    `${r.pairs} pairs, N=${r.n}${r.runs > 1 ? `, mean of ${r.runs} subsets (seed ${r.seed})` : ''}`,
    `${''.padEnd(34)}  medR   R@1   R@5  R@10`,
  ];
  const { plain, debiased, chance } = r.results;
  lines.push(row('image->recipe  e_I', plain.imageToRecipe));
  if (debiased) lines.push(row('image->recipe  ẽ_I (debiased)', debiased.imageToRecipe));
  lines.push(row('image->recipe  chance', chance.imageToRecipe));
  lines.push(row('recipe->image  e_I', plain.recipeToImage));
  if (debiased) lines.push(row('recipe->image  ẽ_I (debiased)', debiased.recipeToImage));
  lines.push(row('recipe->image  chance', chance.recipeToImage));
  if (r.withNoImages) {
    const w = r.withNoImages;
    lines.push(`with ${w.extraRecipes} text-only recipes in the gallery (${w.gallery} candidates per image):`);
    lines.push(row('image->recipe  e_I', w.plain.imageToRecipe));
    if (w.debiased) lines.push(row('image->recipe  ẽ_I (debiased)', w.debiased.imageToRecipe));
    lines.push(row('image->recipe  chance', w.chance.imageToRecipe));
  }
  if (r.pairsWithoutFeatures) lines.push(`${r.pairsWithoutFeatures} pair(s) without cached features left out`);
  if (r.pairsWithoutPhotos) lines.push(`${r.pairsWithoutPhotos} pair(s) with an unreadable first photo left out`);
  return lines.join('\n');
}
