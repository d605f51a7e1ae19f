import { prepareLabels } from '../../data/labels/prepare-labels.js';
import type { LabelTables } from '../../data/labels/build-labels.js';
import { FlagError, intFlag, stringFlag, type Command } from '../command.js';

const TOP_NAMES_SHOWN = 20;

export const prepareLabelsCommand: Command = {
  name: 'prepare-labels',
  summary: 'build ingredient label files (ing2label, id2labels, id2pos) from the ingredient lines',
  help: `Usage: recipe-retrieval prepare-labels <dataset-root> --top-k K [--out DIR] [--force]

Parses every ingredient line of train/val/test (and their _noimages files) into a canonical
ingredient name, keeps the K names listed by the most training recipes (label 0 = most frequent,
ties by name), and writes ing2label_topk{K}.pkl, id2labels_{split}.pkl for each split present and
id2pos_train.pkl. Prints the coverage (share of lines and recipes with a label) and the top names.

  --top-k K        number of ingredient labels (the paper uses 500)
  --out DIR        folder for the label files (default: the dataset root)
  --force          overwrite label files that already exist`,
  options: { 'top-k': { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const root = args.positionals[0];
    if (stringFlag(args, 'top-k') === undefined) throw new FlagError('--top-k is required (the paper uses 500)');
    const topK = intFlag(args, 'top-k', 0, 1, 100_000);
    const { tables, files } = await prepareLabels(root, {
      topK,
      outDir: stringFlag(args, 'out'),
      force: args.values.force === true,
    });
    const { coverage } = tables;
    if (coverage.numLabels < topK) {
      ctx.log(`warning: only ${coverage.numLabels} distinct ingredient names in the training split, fewer than --top-k ${topK}`);
    }
    return {
      data: { topK, files, coverage, topNames: tables.ranked.slice(0, TOP_NAMES_SHOWN) },
      text: formatSummary(tables, files),
    };
  },
};

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function formatSummary(tables: LabelTables, files: string[]): string {
  const { coverage } = tables;
  const lines = [
    `Wrote ${files.length} label files:`,
    ...files.map((f) => `  ${f}`),
    '',
    `${coverage.distinctNames} distinct ingredient names in train; kept ${coverage.numLabels} (top-k ${tables.topK}), ` +
      `the last kept one listed by ${coverage.kthCount ?? 0} training recipes`,
    '',
    'split   recipes  with label   lines  parsed  labelled',
  ];
  for (const s of coverage.splits) {
    lines.push(
      [
        s.split.padEnd(6),
        String(s.recipes).padStart(8),
        pct(s.recipeShare).padStart(11),
        String(s.lines).padStart(7),
        pct(s.lines ? s.parsedLines / s.lines : 0).padStart(7),
        pct(s.lineShare).padStart(9),
      ].join(' '),
    );
  }
  lines.push('', `Top ${Math.min(TOP_NAMES_SHOWN, tables.ranked.length)} names (training recipes listing them):`);
  tables.ranked.slice(0, TOP_NAMES_SHOWN).forEach((r, label) => lines.push(`  ${String(label).padStart(3)}  ${r.name.padEnd(24)} ${r.count}`));
  return lines.join('\n');
}
