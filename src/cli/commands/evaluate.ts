import { isSplit, SPLITS } from '../../data/recipe.js';
import type { RankMetrics } from '../../eval/metrics.js';
import { BACKEND_REQUESTS } from '../../tf/backend.js';
import { activateBackend } from '../../train/backend-setup.js';
import { subsetSizeFlag } from '../../train/cli-flags.js';
import { evaluateModel, type EvaluationReport } from '../../train/evaluate-model.js';
import { openModelSource } from '../../train/model-source.js';
import { FlagError, intFlag, stringFlag, type Command } from '../command.js';

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'rank a split\'s image-recipe pairs with a trained model (medR, R@1/5/10, both directions)',
  help: `Usage: recipe-retrieval evaluate --model DIR <dataset-root> [options]

Embeds every pair of the split (first image's view-0 features from the feature cache, recipe text)
and ranks by cosine similarity (HT's protocol): for subset size N, --runs seeded subsets of N pairs,
mean medR and R@1/5/10 (%), image->recipe and recipe->image. A model with a dictionary is reported
with e_I alone ("plain") and with ẽ_I = e_I + pi V ("debiased"). "chance" is the expected value of a
random ranking of the same gallery: R@K = K/G, medR = (G+1)/2.

  --model DIR        model folder: a run folder (runs/<name>) or models/demo-run (required)
  --split S          ${SPLITS.join(', ')} (default test)
  --n N|all          pairs per subset (default 1000, or all when the split has fewer)
  --runs R           subsets averaged (default 10; one ranking with all)
  --seed S           seed of the subsets (default 0)
  --with-noimages    also image->recipe with the split's text-only recipes added to the gallery
  --random-init      replace the weights by a fresh random initialisation (measured chance level)
  --init-seed S      seed of --random-init (default 1)
  --cache DIR        feature cache (default <dataset-root>/.cache/features)
  --backend B        ${BACKEND_REQUESTS.join(' | ')} (default auto)`,
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
  },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const modelDir = stringFlag(args, 'model');
    if (modelDir === undefined) throw new FlagError('--model is required (a run folder or models/demo-run)');
    const split = stringFlag(args, 'split') ?? 'test';
    if (!isSplit(split)) throw new FlagError(`--split must be one of ${SPLITS.join(', ')}, got "${split}"`);
    const n = subsetSizeFlag(args, 'n');
    const runs = intFlag(args, 'runs', 10, 1, 10_000);
    const seed = intFlag(args, 'seed', 0, 0, 2 ** 32 - 1);
    const randomInit = args.values['random-init'] === true;
    if (!randomInit && stringFlag(args, 'init-seed') !== undefined) throw new FlagError('--init-seed goes with --random-init');
    await activateBackend(stringFlag(args, 'backend') ?? 'auto', ctx.log);
    const source = await openModelSource(modelDir, { randomInitSeed: randomInit ? intFlag(args, 'init-seed', 1, 0, 2 ** 32 - 1) : undefined });
    try {
      const report = await evaluateModel(source, {
        root: args.positionals[0], split, n, runs, seed, withNoImages: args.values['with-noimages'] === true,
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
  const lines = [
    `${r.model.dir} (${r.model.stage}, epoch ${r.model.epoch}${r.model.randomInit ? ', RANDOM weights' : ''}) on ${r.split}: ` +
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
  return lines.join('\n');
}
