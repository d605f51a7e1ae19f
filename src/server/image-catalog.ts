import { promises as fs } from 'node:fs';
import path from 'node:path';
import { recipe1mImagePath } from '../data/dataset.js';
import type { IndexedRecipe } from '../index/store.js';
import { ApiError } from './http-errors.js';

const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp', '.gif': 'image/gif',
  '.avif': 'image/avif', '.tif': 'image/tiff', '.tiff': 'image/tiff',
};

export interface CatalogImage {
  file: string;
  bytes: number;
  contentType: string;
}

/**
 * The photos the index may show: exactly the image names listed in its display data, each found in
 * the image tree of the split of the recipe that lists it (the first one, should two splits list the
 * same name). A requested name is looked up in that map before it becomes a path (through the
 * Recipe1M c0/c1/c2/c3 rule), and the file's real path must still lie inside the image root, so no
 * client string reaches the file system unchecked and a symbolic link cannot lead out of it.
 */
export class ImageCatalog {
  /** Image name -> the split whose image tree holds it. */
  private readonly splitOf = new Map<string, string>();

  constructor(recipes: readonly IndexedRecipe[], readonly imageRoot: string | undefined) {
    for (const recipe of recipes) {
      for (const name of recipe.images) if (!this.splitOf.has(name)) this.splitOf.set(name, recipe.split);
    }
  }

  get size(): number {
    return this.splitOf.size;
  }

  has(name: string): boolean {
    return this.splitOf.has(name);
  }

  /** URL of a listed image, as the API serves it. */
  static url(name: string): string {
    return `/v1/images/${encodeURIComponent(name)}`;
  }

  async resolve(name: string): Promise<CatalogImage> {
    const notFound = (why: string) => new ApiError('image_not_found', why);
    const split = this.splitOf.get(name);
    if (split === undefined) throw notFound(`no image named ${JSON.stringify(name.slice(0, 100))} belongs to this index`);
    if (!this.imageRoot) throw notFound('the index\'s dataset folder is not available on this server');
    const file = recipe1mImagePath(this.imageRoot, split, name);
    let real: string;
    let rootReal: string;
    try {
      [real, rootReal] = await Promise.all([fs.realpath(file), fs.realpath(this.imageRoot)]);
    } catch {
      throw notFound(`image ${name} is listed by the index but its file is missing`);
    }
    if (!real.startsWith(rootReal + path.sep)) throw notFound(`image ${name} resolves outside the dataset's image folder`);
    const stat = await fs.stat(real);
    if (!stat.isFile()) throw notFound(`image ${name} is not a regular file`);
    const contentType = CONTENT_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
    return { file: real, bytes: stat.size, contentType };
  }
}
