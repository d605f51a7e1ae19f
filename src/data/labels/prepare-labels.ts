import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.js';
import { buildLabelTables, type LabelTables } from './build-labels.js';
import { readSplitLines } from './read-splits.js';
import { labelFilePaths, writeLabelFiles } from './write-label-files.js';

export interface PrepareLabelsOptions {
  topK: number;
  /** Folder for the label files; default: the dataset root. */
  outDir?: string;
  /** Replace label files that already exist. */
  force?: boolean;
}

export interface PreparedLabels {
  tables: LabelTables;
  files: string[];
}

/** Read a dataset's splits, build the label tables, and write them; refuses to overwrite without `force`. */
export async function prepareLabels(root: string, opts: PrepareLabelsOptions): Promise<PreparedLabels> {
  const outDir = opts.outDir ?? root;
  const splits = await readSplitLines(root);
  const targets = labelFilePaths(outDir, opts.topK, splits.map((s) => s.split));
  if (!opts.force) {
    const existing = [];
    for (const file of targets) if (await fs.stat(file).catch(() => undefined)) existing.push(path.basename(file));
    if (existing.length) {
      throw new UserError(`${outDir}: label files already exist (${existing.join(', ')}); use --force to overwrite them`);
    }
  }
  const tables = buildLabelTables(splits, opts.topK);
  const files = await writeLabelFiles(outDir, tables);
  return { tables, files };
}
