/**
 * Regenerate test/fixtures/labels/sample-parses.tsv: 30 ingredient lines of the demo dataset and the
 * name parseIngredientLine gives each, so a reader can judge the parser at a glance. labels.test.ts
 * checks the file still matches the parser; rerun this after changing the rules:
 *   npx tsc -p . && node dist/scripts/sample-label-parses.js
 */
import { parseIngredientLine } from '../src/data/labels/ingredient-parser.js';
import { readSplitLines } from '../src/data/labels/read-splits.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';

const SAMPLE_SIZE = 30;

/** FNV-1a: a stable pseudo-random order, so the sample neither follows file order nor changes between runs. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

export function formatSampleTsv(lines: string[]): string {
  const rows = lines.map((line) => `${line}\t${parseIngredientLine(line) ?? '-'}`);
  return `line\tname (- = no name)\n${rows.join('\n')}\n`;
}

async function main(): Promise<void> {
  const splits = await readSplitLines(fromRoot('index-data', 'demo'));
  const unique = [...new Set(splits.flatMap((s) => s.recipes.flatMap((r) => r.ingredients)))].filter((l) => !/[\t\n]/.test(l));
  const sample = unique.sort((a, b) => fnv1a(a) - fnv1a(b) || (a < b ? -1 : 1)).slice(0, SAMPLE_SIZE);
  const file = fromRoot('test', 'fixtures', 'labels', 'sample-parses.tsv');
  await writeFileAtomic(file, formatSampleTsv(sample));
  process.stdout.write(`wrote ${sample.length} sample parses to ${file}\n`);
}

await main();
