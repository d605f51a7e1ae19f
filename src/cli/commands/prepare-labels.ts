import { prepareLabels } from '../../data/labels/prepare-labels.js';
import type { LabelTables } from '../../data/labels/build-labels.js';
import type { Command } from '../command.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const TOP_NAMES_SHOWN = 20;

const OPTIONS = defineOptions({
  'top-k': { type: 'string', value: 'K', description: 'number of ingredient labels (the paper uses 500)', required: 'the paper uses 500', min: 1, max: 100_000 },
  out: { type: 'string', value: 'DIR', description: 'folder for the label files (default: the dataset root)' },
  force: { type: 'boolean', description: 'overwrite label files that already exist' },
});

export const prepareLabelsCommand: Command = {
  name: 'prepare-labels',
  summary: 'build ingredient label files (ing2label, id2labels, id2pos) from the ingredient lines',
  help: `Usage: recipe-retrieval prepare-labels <dataset-root> --top-k K [--out DIR] [--force]

Parses every ingredient line of train/val/test (and their _noimages files) into a canonical
ingredient name, keeps the K names listed by the most training recipes (label 0 = most frequent,
ties by name), and writes ing2label_topk{K}.pkl, id2labels_{split}.pkl for each split present and
id2pos_train.pkl. Prints the coverage (share of lines and recipes with a label) and the top names.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const root = args.positionals[0];
    const flags = readFlags(args, OPTIONS);
    const topK = flags.int('top-k');
    const { tables, files } = await prepareLabels(root, {
      topK,
      outDir: flags.string('out'),
      force: flags.bool('force'),
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
