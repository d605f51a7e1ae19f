import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RecipeDataset } from '../data/dataset.js';
import { SPLITS, type Split } from '../data/recipe.js';
import { fileRecord, type FileRecord } from '../model-format/manifest.js';
import { UserError } from '../util/errors.js';

/** The demo dataset as setup indexes it: every split, with and without photos. */
export interface DemoDataset {
  root: string;
  /** Splits with a `<split>.pkl`, in train, val, test order: the index spans all of them. */
  splits: Split[];
  count: number;
  paired: number;
  textOnly: number;
  /** Distinct photo names the recipes list whose files exist (the server reads them from here). */
  photos: number;
  /** Listed photos whose files are absent (the server answers 404 for them). */
  missingPhotos: number;
  /**
   * sha256 of every pickle the index is built from: the index's only input besides the model. The
   * photos are not hashed: the index holds no photo bytes, and the server reads the files from the
   * dataset when asked, so a changed photo cannot make the index stale.
   */
  files: Record<string, FileRecord>;
}

export async function readDemoDataset(root: string): Promise<DemoDataset> {
  const dataset = await RecipeDataset.open(root);
  const out: DemoDataset = { root, splits: [], count: 0, paired: 0, textOnly: 0, photos: 0, missingPhotos: 0, files: {} };
  const seen = new Set<string>();
  for (const split of SPLITS) {
    // As `index --split all`: a split without its `<split>.pkl` is left out, text-only file or not.
    if (!(await dataset.hasSplit(split))) continue;
    out.splits.push(split);
    for (const noImages of [false, true]) {
      if (!(await dataset.hasSplit(split, noImages))) continue;
      const file = dataset.splitFile(split, noImages);
      out.files[path.basename(file)] = await fileRecord(file);
      const recipes = noImages ? await dataset.readTextOnly(split) : await dataset.readPaired(split);
      out.count += recipes.length;
      if (noImages) out.textOnly += recipes.length;
      else out.paired += recipes.length;
      // A stat per photo (160 in the demo): counted for the summary, never hashed.
      const names = [...new Set(recipes.flatMap((r) => r.images))].filter((name) => !seen.has(name));
      names.forEach((name) => seen.add(name));
      const found = await Promise.all(names.map((name) => fs.stat(dataset.imagePath(split, name)).then((s) => s.isFile(), () => false)));
      out.photos += found.filter(Boolean).length;
      out.missingPhotos += found.filter((ok) => !ok).length;
    }
  }
  if (out.splits.length === 0) throw new UserError(`${root}: no split pickles (train/val/test.pkl) to index`);
  return out;
}
