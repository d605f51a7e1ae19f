import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RankMetrics } from '../../eval/metrics.js';
import { MANIFEST_FILE } from '../../model-format/io-spec.js';
import { evaluateExport } from '../../eval/runners/evaluate-export.js';
import type { EvaluationReport } from '../../eval/report.js';
import { evaluateModel } from '../../eval/runners/evaluate-model.js';
import { openModelSource } from '../../eval/runners/model-source.js';
import { activateBackend } from '../backend-setup.js';
import { FlagError, precisionFlag, type Command } from '../command.js';
import { backendOption, deviceOption, precisionOption, splitOption } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const OPTIONS = defineOptions({
  model: {
    type: 'string', value: 'DIR',
    description: 'a run folder such as runs/<name> or models/demo-run, or an exported model\nfolder such as models/demo',
    required: 'a run folder, models/demo-run, or an exported model folder such as models/demo',
  },
  split: splitOption('test'),
  n: { type: 'string', value: 'N|all', description: 'pairs per subset (default 1000, or all when the split has fewer)' },
  runs: { type: 'string', value: 'R', description: 'subsets averaged (one ranking with all)', default: 10, min: 1, max: 10_000 },
  seed: { type: 'string', value: 'S', description: 'seed of the subsets', default: 0, min: 0, max: 2 ** 32 - 1 },
  'with-noimages': { type: 'boolean', description: 'also image->recipe with the split\'s text-only recipes added to the gallery' },
  'random-init': { type: 'boolean', description: 'replace the weights by a fresh random initialisation (measured chance level;\nrun folders only)' },
  'init-seed': { type: 'string', value: 'S', description: 'seed of --random-init', default: 1, min: 0, max: 2 ** 32 - 1 },
  cache: { type: 'string', value: 'DIR', description: 'feature cache (default <dataset-root>/.cache/features; run folders only)' },
  backend: backendOption('auto', 'TF.js backend (run folders only)'),
  device: deviceOption('where onnxruntime runs an export'),
  precision: precisionOption('an export\'s image encoder, int8 = the one quantize made'),
});

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
recipes, as the server's evaluations do, and needs no feature cache.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const modelDir = flags.string('model');
    const split = flags.choice('split');
    const n = flags.subsetSize('n');
    const runs = flags.int('runs');
    const seed = flags.int('seed');
    const randomInit = flags.bool('random-init');
    if (!randomInit && flags.given('init-seed')) throw new FlagError('--init-seed goes with --random-init');
    const withNoImages = flags.bool('with-noimages');
    const root = args.positionals[0];
    // An export is recognised by its manifest; evaluateExport reads and verifies it.
    if (existsSync(path.join(modelDir, MANIFEST_FILE))) {
      if (randomInit) throw new FlagError(`--random-init needs a run folder: ${modelDir} is an ONNX export, whose weights are fixed in its graphs (evaluate its source run with --random-init for chance level)`);
      for (const flag of ['cache', 'backend'] as const) {
        if (flags.given(flag)) throw new FlagError(`--${flag} applies to run folders only: ${modelDir} is an ONNX export, evaluated from photos`);
      }
      const device = flags.choice('device');
      const precision = precisionFlag(flags.string('precision'));
      const report = await evaluateExport(modelDir, { root, split, n, runs, seed, withNoImages, device, precision, log: ctx.log });
      return { data: report, text: formatReport(report) };
    }
    if (flags.given('precision')) throw new FlagError(`--precision applies to exported model folders only (${modelDir} has no ${MANIFEST_FILE})`);
    if (flags.given('device')) throw new FlagError(`--device applies to exported model folders only (${modelDir} has no ${MANIFEST_FILE}); run folders use --backend`);
    await activateBackend(flags.string('backend'), ctx.log);
    const source = await openModelSource(modelDir, { randomInitSeed: randomInit ? flags.int('init-seed') : undefined });
    try {
      const report = await evaluateModel(source, {
        root, split, n, runs, seed, withNoImages,
        cacheDir: flags.string('cache'), log: ctx.log,
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
