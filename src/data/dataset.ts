import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DataFileError, UserError } from '../util/errors.js';
import { readPickleFile, type PickleValue } from './pickle/pickle.js';
import type { Recipe, Split } from './recipe.js';

/**
 * Reader for a dataset in the Recipe1M layout:
 *   <root>/{train,val,test}.pkl            recipes with at least one photo
 *   <root>/{train,val,test}_noimages.pkl   optional text-only recipes
 *   <images>/<split>/<c0>/<c1>/<c2>/<c3>/<name>   photos (c0..c3 = first four characters of the name)
 * where <images> is <root>/images when that folder exists (our demo layout) and <root> otherwise (Recipe1M's).
 */
export class RecipeDataset {
  readonly imageRoot: string;

  private constructor(readonly root: string, imageRoot: string) {
    this.imageRoot = imageRoot;
  }

  static async open(root: string, opts: { imageRoot?: string } = {}): Promise<RecipeDataset> {
    const stat = await fs.stat(root).catch(() => undefined);
    if (!stat?.isDirectory()) throw new UserError(`${root}: dataset folder not found`);
    let imageRoot = opts.imageRoot;
    if (!imageRoot) {
      const nested = path.join(root, 'images');
      imageRoot = (await fs.stat(nested).catch(() => undefined))?.isDirectory() ? nested : root;
    }
    return new RecipeDataset(root, imageRoot);
  }

  splitFile(split: Split, textOnly = false): string {
    return path.join(this.root, `${split}${textOnly ? '_noimages' : ''}.pkl`);
  }

  async hasSplit(split: Split, textOnly = false): Promise<boolean> {
    return fileExists(this.splitFile(split, textOnly));
  }

  /** Recipes with photos of a split, in the pickle's order. */
  async readPaired(split: Split): Promise<Recipe[]> {
    return readRecipeFile(this.splitFile(split));
  }

  /** Text-only recipes of a split; an absent `_noimages` file means none. */
  async readTextOnly(split: Split): Promise<Recipe[]> {
    const file = this.splitFile(split, true);
    return (await fileExists(file)) ? readRecipeFile(file) : [];
  }

  /** Path of an image file of a split, by the Recipe1M c0/c1/c2/c3 rule. */
  imagePath(split: Split, name: string): string {
    return recipe1mImagePath(this.imageRoot, split, name);
  }

  /** Path of a recipe's first image (the one training and evaluation use). */
  firstImagePath(split: Split, recipe: Recipe): string {
    if (recipe.images.length === 0) throw new UserError(`recipe ${recipe.id} has no image`);
    return this.imagePath(split, recipe.images[0]);
  }

  /** Check which image files of the recipes exist; never throws for a missing file. */
  async checkImages(split: Split, recipes: Recipe[], which: 'first' | 'all' = 'all'): Promise<ImageCheck> {
    const names = recipes.flatMap((r) => (which === 'first' ? r.images.slice(0, 1) : r.images));
    const missing: string[] = [];
    // Bounded concurrency: Recipe1M splits list ~100k files; stat them in chunks, not all at once.
    for (let i = 0; i < names.length; i += 256) {
      const chunk = names.slice(i, i + 256);
      const exists = await Promise.all(chunk.map((n) => fileExists(this.imagePath(split, n))));
      exists.forEach((ok, j) => ok || missing.push(chunk[j]));
    }
    return { listed: names.length, found: names.length - missing.length, missing };
  }
}

export interface ImageCheck {
  listed: number;
  found: number;
  missing: string[];
}

/** Image names become paths only through this rule, after a strict name check, so no name can escape the tree. */
export function recipe1mImagePath(imageRoot: string, split: string, name: string): string {
  if (!isSafeImageName(name)) throw new UserError(`invalid image name "${name}"`);
  return path.join(imageRoot, split, name[0], name[1], name[2], name[3], name);
}

export function isSafeImageName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{4,200}$/.test(name) && !name.includes('..');
}

async function fileExists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined))?.isFile() ?? false;
}

/** Read and validate one split pickle: dict id -> {title, ingredients, instructions, images}. */
export async function readRecipeFile(file: string): Promise<Recipe[]> {
  return recipesFromPickle(await readPickleFile(file), file);
}

export function recipesFromPickle(value: PickleValue, file: string): Recipe[] {
  if (!(value instanceof Map)) throw new DataFileError(file, `expected a dict of recipe id -> recipe, got ${describe(value)}`);
  const recipes: Recipe[] = [];
  for (const [id, entry] of value) {
    if (typeof id !== 'string' || id.length === 0) throw new DataFileError(file, `recipe key ${JSON.stringify(id)} is not a non-empty string id`);
    if (!(entry instanceof Map)) throw new DataFileError(file, `recipe ${id}: expected a dict, got ${describe(entry)}`);
    const title = entry.get('title');
    if (typeof title !== 'string') throw new DataFileError(file, `recipe ${id}: "title" must be a string, got ${describe(title)}`);
    recipes.push({
      id,
      title,
      ingredients: stringList(entry.get('ingredients'), file, id, 'ingredients'),
      instructions: stringList(entry.get('instructions'), file, id, 'instructions'),
      images: entry.has('images') ? stringList(entry.get('images'), file, id, 'images') : [],
    });
  }
  return recipes;
}

function stringList(value: PickleValue | undefined, file: string, id: string, field: string): string[] {
  if (!Array.isArray(value)) throw new DataFileError(file, `recipe ${id}: "${field}" must be a list of strings, got ${describe(value)}`);
  for (const item of value) {
    if (typeof item !== 'string') throw new DataFileError(file, `recipe ${id}: "${field}" holds ${describe(item)}, expected strings`);
  }
  return value as string[];
}

export function describe(value: PickleValue | undefined): string {
  if (value === undefined) return 'nothing (field missing)';
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map) return 'a dict';
  if (value instanceof Uint8Array) return 'bytes';
  return `a ${typeof value}`;
}
