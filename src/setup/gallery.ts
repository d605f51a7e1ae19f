import { promises as fs } from 'node:fs';
import path from 'node:path';
import { recipe1mImagePath, RecipeDataset } from '../data/dataset.js';
import { SPLITS, type Recipe, type Split } from '../data/recipe.js';
import { fileRecord, type FileRecord } from '../export/manifest.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { GALLERY_SPLIT } from './paths.js';

export interface PhotoSource extends FileRecord {
  split: Split;
  file: string;
}

/** The demo's whole recipe collection: every split, with and without photos. */
export interface Gallery {
  /** Index row order: per split (train, val, test), the recipes with photos, then the text-only ones. */
  recipes: Recipe[];
  paired: number;
  textOnly: number;
  /** Photo name -> its file in the dataset and that file's sha256. */
  photos: Map<string, PhotoSource>;
  /** Listed photos whose files are absent (the server answers 404 for them). */
  missingPhotos: string[];
  /** sha256 of every split pickle read: the recipes' source. */
  files: Record<string, FileRecord>;
}

export async function readGallery(datasetRoot: string): Promise<Gallery> {
  const dataset = await RecipeDataset.open(datasetRoot);
  const recipes: Recipe[] = [];
  const files: Record<string, FileRecord> = {};
  const photos = new Map<string, PhotoSource>();
  const missingPhotos: string[] = [];
  let paired = 0;
  let textOnly = 0;
  for (const split of SPLITS) {
    for (const noImages of [false, true]) {
      if (!(await dataset.hasSplit(split, noImages))) continue;
      const file = dataset.splitFile(split, noImages);
      files[path.basename(file)] = await fileRecord(file);
      const part = noImages ? await dataset.readTextOnly(split) : await dataset.readPaired(split);
      recipes.push(...part);
      if (noImages) textOnly += part.length;
      else paired += part.length;
      for (const name of part.flatMap((r) => r.images)) {
        const image = dataset.imagePath(split, name);
        const record = await fileRecord(image).catch(() => undefined);
        const seen = photos.get(name);
        if (seen && record && seen.sha256 !== record.sha256) {
          throw new UserError(`${datasetRoot}: photo ${name} appears in splits ${seen.split} and ${split} with different content; the all-splits gallery needs unique names`);
        }
        if (seen) continue;
        if (record) photos.set(name, { ...record, split, file: image });
        else missingPhotos.push(name);
      }
    }
  }
  if (recipes.length === 0) throw new UserError(`${datasetRoot}: no split pickles (train/val/test[_noimages].pkl) to index`);
  return { recipes, paired, textOnly, photos, missingPhotos, files };
}

/** Where the gallery keeps a photo inside the index folder (the Recipe1M c0/c1/c2/c3 rule). */
export function galleryPhotoPath(indexDir: string, name: string): string {
  return recipe1mImagePath(path.join(indexDir, 'images'), GALLERY_SPLIT, name);
}

/** Copy photos into the index folder's gallery tree, each atomically. */
export async function copyPhotos(gallery: Gallery, indexDir: string, names: Iterable<string>): Promise<number> {
  let copied = 0;
  for (const name of names) {
    const source = gallery.photos.get(name);
    if (!source) continue;
    await writeFileAtomic(galleryPhotoPath(indexDir, name), await fs.readFile(source.file));
    copied++;
  }
  return copied;
}
