/**
 * Print the demo's metrics table (markdown) from evaluate --json outputs:
 *   node dist/scripts/demo-table.js <random-init.json> <stage1.json> <stage2.json>
 * Rows: chance (analytic), untrained model, stage 1, stage 2 with e_I alone and with ẽ_I; both
 * directions; then image->recipe with the split's text-only recipes in the gallery.
 */
import { readFileSync } from 'node:fs';
import type { RankMetrics } from '../src/eval/metrics.js';
import type { EvaluationReport } from '../src/eval/report.js';

const [randomFile, stage1File, stage2File] = process.argv.slice(2);
if (!stage2File) {
  console.error('usage: demo-table.js <random-init.json> <stage1.json> <stage2.json>');
  process.exit(2);
}
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as EvaluationReport;
const random = read(randomFile);
const stage1 = read(stage1File);
const stage2 = read(stage2File);

const f = (m: RankMetrics) => `${Number(m.medR.toFixed(1))} | ${m.r1.toFixed(1)} | ${m.r5.toFixed(1)} | ${m.r10.toFixed(1)}`;
const row = (name: string, i2r: RankMetrics, r2i?: RankMetrics) => `| ${name} | ${f(i2r)} | ${r2i ? f(r2i) : '– | – | – | –'} |`;

const lines = [
  `Test split: ${stage2.pairs} pairs, N = ${stage2.n === stage2.pairs ? `all (${stage2.n})` : stage2.n}${stage2.runs > 1 ? `, mean of ${stage2.runs} subsets` : ''}. R@K in %.`,
  '',
  '| model | i→r medR | R@1 | R@5 | R@10 | r→i medR | R@1 | R@5 | R@10 |',
  '|---|---|---|---|---|---|---|---|---|',
  row('chance (expected, random ranking)', stage2.results.chance.imageToRecipe, stage2.results.chance.recipeToImage),
  row('untrained model (--random-init), e_I', random.results.plain.imageToRecipe, random.results.plain.recipeToImage),
  row('stage 1: HT baseline, e_I', stage1.results.plain.imageToRecipe, stage1.results.plain.recipeToImage),
  row('stage 2: debiased model, e_I alone', stage2.results.plain.imageToRecipe, stage2.results.plain.recipeToImage),
  row('stage 2: debiased model, ẽ_I = e_I + πV', stage2.results.debiased!.imageToRecipe, stage2.results.debiased!.recipeToImage),
];
const w1 = stage1.withNoImages;
const w2 = stage2.withNoImages;
if (w1 && w2) {
  lines.push(
    '',
    `Image→recipe with the ${w2.extraRecipes} text-only test recipes added to the gallery (${w2.gallery} candidates per photo):`,
    '',
    '| model | medR | R@1 | R@5 | R@10 |',
    '|---|---|---|---|---|',
    `| chance | ${f(w2.chance.imageToRecipe)} |`,
    `| stage 1, e_I | ${f(w1.plain.imageToRecipe)} |`,
    `| stage 2, e_I alone | ${f(w2.plain.imageToRecipe)} |`,
    `| stage 2, ẽ_I | ${f(w2.debiased!.imageToRecipe)} |`,
  );
}
console.log(lines.join('\n'));
