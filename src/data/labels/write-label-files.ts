import path from 'node:path';
import { id2LabelsFile, id2PosFile } from '../label-files.js';
import { writePickleFile } from '../pickle/pickle.js';
import type { Split } from '../recipe.js';
import type { LabelTables } from './build-labels.js';

export function ing2LabelFile(dir: string, topK: number): string {
  return path.join(dir, `ing2label_topk${topK}.pkl`);
}

/** The files one label build writes, in the order they are written. */
export function labelFilePaths(dir: string, topK: number, splits: Split[]): string[] {
  return [...splits.map((s) => id2LabelsFile(dir, s)), id2PosFile(dir), ing2LabelFile(dir, topK)];
}

/**
 * Write the label tables as protocol-4 pickles. Each file is written atomically; ing2label goes
 * last, so a reader that finds it also finds the id2labels/id2pos files of the same build.
 */
export async function writeLabelFiles(dir: string, tables: LabelTables): Promise<string[]> {
  const written: string[] = [];
  for (const [split, labels] of tables.id2labels) {
    written.push(id2LabelsFile(dir, split));
    await writePickleFile(written[written.length - 1], labels, { protocol: 4 });
  }
  written.push(id2PosFile(dir));
  await writePickleFile(id2PosFile(dir), tables.id2pos, { protocol: 4 });
  written.push(ing2LabelFile(dir, tables.topK));
  await writePickleFile(ing2LabelFile(dir, tables.topK), tables.ing2label, { protocol: 4 });
  return written;
}
