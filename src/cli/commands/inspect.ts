import { promises as fs } from 'node:fs';
import path from 'node:path';
import { inspectDataset, type DatasetReport } from '../../data/inspect.js';
import { loadVocabulary } from '../../data/text/vocabulary.js';
import { fromRoot } from '../../util/paths.js';
import type { Command } from '../command.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const OPTIONS = defineOptions({
  vocab: {
    type: 'string', value: 'FILE',
    description: 'vocabulary for the coverage figure (default: <root>/vocab.pkl if present,\nelse the published Recipe1M vocabulary shipped in models/recipe1m-vocab)',
  },
});

/** The vocabulary `inspect` measures coverage with: the dataset's own, else the published Recipe1M one. */
async function defaultVocabFile(root: string): Promise<string> {
  const own = path.join(root, 'vocab.pkl');
  return (await fs.stat(own).catch(() => undefined)) ? own : fromRoot('models', 'recipe1m-vocab', 'vocab.pkl');
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'statistics of a Recipe1M-layout dataset (recipes, images, vocabulary and label coverage)',
  help: `Usage: recipe-retrieval inspect <dataset-root> [--vocab FILE]

Reports, per split: recipes with photos, text-only recipes, image files found and missing,
mean ingredient lines and instructions, the share of tokens the vocabulary knows, and
label coverage when ing2label_topk*.pkl and id2labels_<split>.pkl exist.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args) {
    const root = args.positionals[0];
    const vocabFile = readFlags(args, OPTIONS).string('vocab') ?? (await defaultVocabFile(root));
    const vocab = await loadVocabulary(vocabFile);
    const report = await inspectDataset(root, { vocab, vocabFile });
    return { data: report, text: formatReport(report) };
  },
};

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function formatReport(r: DatasetReport): string {
  const lines = [`Dataset ${r.root} (images under ${r.imageRoot})`];
  if (r.vocabulary) lines.push(`Vocabulary: ${r.vocabulary}`);
  lines.push(r.labels ? `Labels: ${r.labels.file} (${r.labels.numLabels} labels)` : 'Labels: none (run prepare-labels to build them)');
  lines.push('');
  lines.push('split   paired  text-only  images found/listed  missing  ingr/recipe  instr/recipe  vocab coverage  label coverage');
  for (const s of r.splits) {
    lines.push(
      [
        s.split.padEnd(6),
        String(s.pairedRecipes).padStart(7),
        String(s.textOnlyRecipes).padStart(10),
        `${s.imageFiles.found}/${s.imageFiles.listed}`.padStart(20),
        String(s.imageFiles.missing).padStart(8),
        s.meanIngredientLines.toFixed(1).padStart(12),
        s.meanInstructions.toFixed(1).padStart(13),
        (s.vocabCoverage ? pct(s.vocabCoverage.share) : '-').padStart(15),
        (s.labelCoverage ? pct(s.labelCoverage.share) : '-').padStart(15),
      ].join(' '),
    );
    if (s.imageFiles.missing) lines.push(`        missing e.g. ${s.imageFiles.missingExamples.join(', ')}`);
  }
  const t = r.totals;
  lines.push('');
  lines.push(`Total: ${t.pairedRecipes} recipes with photos, ${t.textOnlyRecipes} text-only, ${t.imagesFound} image files found, ${t.imagesMissing} missing`);
  return lines.join('\n');
}
