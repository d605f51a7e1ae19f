import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readRecipeFile, recipe1mImagePath } from '../data/dataset.js';
import { flipHorizontal, loadTestCrop, type RgbImage } from '../data/images/index.js';
import type { LineListBatch, RecipeBatch } from '../data/text/batch.js';
import { encodeRecipe, type EncodedRecipe } from '../data/text/encode.js';
import type { Vocabulary } from '../data/text/vocabulary.js';
import { SeededRandom } from '../util/random.js';
import { TEXT_LIMITS } from '../model-format/io-spec.js';

/** Inputs of the parity checks: real demo recipes and photos, random ones, and named edge cases. */

export interface NamedRecipe {
  name: string;
  recipe: EncodedRecipe;
}

function randomIds(rng: SeededRandom, vocabSize: number, count: number): number[] {
  return Array.from({ length: count }, () => 1 + rng.nextInt(vocabSize - 1));
}

function randomLines(rng: SeededRandom, vocabSize: number, maxLines: number, maxIds: number): number[][] {
  return Array.from({ length: rng.nextInt(maxLines + 1) }, () => randomIds(rng, vocabSize, 1 + rng.nextInt(maxIds)));
}

/** Random recipes within the encoding limits, 0..20 lines each (so some have no lines at all). */
export function randomRecipes(count: number, vocabSize: number, seed: number): EncodedRecipe[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: count }, () => ({
    title: randomIds(rng, vocabSize, 1 + rng.nextInt(TEXT_LIMITS.titleMaxIds)),
    ingredients: randomLines(rng, vocabSize, TEXT_LIMITS.maxIngredientLines, TEXT_LIMITS.ingredientMaxIds),
    instructions: randomLines(rng, vocabSize, TEXT_LIMITS.maxInstructionLines, TEXT_LIMITS.instructionMaxIds),
  }));
}

/** The shapes that exercise the encoder's masking: empty lines, missing lists, limits, a one-token title. */
export function edgeCaseRecipes(vocabSize: number, seed: number): NamedRecipe[] {
  const rng = new SeededRandom(seed);
  const ids = (n: number): number[] => randomIds(rng, vocabSize, n);
  const lines = (count: number, n: number): number[][] => Array.from({ length: count }, () => ids(n));
  return [
    { name: 'one-token title', recipe: { title: ids(1), ingredients: lines(3, 5), instructions: lines(2, 9) } },
    { name: 'empty ingredient line', recipe: { title: ids(4), ingredients: [ids(6), [], ids(3)], instructions: lines(3, 7) } },
    { name: 'empty instruction line', recipe: { title: ids(6), ingredients: lines(4, 4), instructions: [[], ids(12), []] } },
    { name: 'no ingredient lines', recipe: { title: ids(5), ingredients: [], instructions: lines(4, 10) } },
    { name: 'no instructions', recipe: { title: ids(5), ingredients: lines(6, 5), instructions: [] } },
    { name: 'only empty lines', recipe: { title: ids(3), ingredients: [[], []], instructions: [[]] } },
    {
      name: 'maximum lengths',
      recipe: {
        title: ids(TEXT_LIMITS.titleMaxIds),
        ingredients: lines(TEXT_LIMITS.maxIngredientLines, TEXT_LIMITS.ingredientMaxIds),
        instructions: lines(TEXT_LIMITS.maxInstructionLines, TEXT_LIMITS.instructionMaxIds),
      },
    },
  ];
}

/** The first `count` items of `items`, topped up from `fill` (cycled) when there are too few. */
export function fillTo<T>(items: readonly T[], fill: readonly T[], count: number): T[] {
  const out = items.slice(0, count);
  for (let i = 0; out.length < count; i++) out.push(fill[i % fill.length]);
  return out;
}

/**
 * The TF.js recipe encoder cannot take a batch whose longest line has a single id (tf.oneHot needs
 * depth >= 2; e.g. one recipe without ingredient lines). One more padding column changes nothing in
 * the model (a padded key gets zero weight, and the mean ignores it), so the reference runs on that.
 */
export function widenSingleIdLines(batch: RecipeBatch): RecipeBatch {
  const widen = (lines: LineListBatch): LineListBatch => {
    const [n, l, t] = lines.shape;
    if (t !== 1) return lines;
    const ids = new Int32Array(n * l * 2);
    const wordMask = new Float32Array(n * l * 2);
    for (let i = 0; i < n * l; i++) {
      ids[2 * i] = lines.ids[i];
      wordMask[2 * i] = lines.wordMask[i];
    }
    return { ids, wordMask, lineMask: lines.lineMask, shape: [n, l, 2] };
  };
  return { ...batch, ingredients: widen(batch.ingredients), instructions: widen(batch.instructions) };
}

export interface SplitInputs {
  recipes: EncodedRecipe[];
  /** Test-transform crops of each recipe's first image (those that load). */
  crops: RgbImage[];
  cropNames: string[];
}

/** A dataset split (Recipe1M layout) encoded with `vocab`, and the test crops of its first `photos` photos. */
export async function loadSplitInputs(
  root: string, split: string, vocab: Vocabulary, opts: { photos: number },
): Promise<SplitInputs> {
  const recipes = await readRecipeFile(path.join(root, `${split}.pkl`));
  const imageRoot = (await fs.stat(path.join(root, 'images')).catch(() => undefined))?.isDirectory() ? path.join(root, 'images') : root;
  const crops: RgbImage[] = [];
  const cropNames: string[] = [];
  for (const recipe of recipes) {
    if (crops.length >= opts.photos) break;
    if (recipe.images.length === 0) continue;
    crops.push(await loadTestCrop(recipe1mImagePath(imageRoot, split, recipe.images[0])));
    cropNames.push(recipe.images[0]);
  }
  return { recipes: recipes.map((r) => encodeRecipe(r, vocab)), crops, cropNames };
}

/** `count` crops: the photos, then their mirror images, then seeded noise. */
export function imageBatch(photos: readonly RgbImage[], count: number, seed: number): RgbImage[] {
  const rng = new SeededRandom(seed);
  const noise = (): RgbImage => ({ data: new Uint8Array(224 * 224 * 3).map(() => rng.nextInt(256)), width: 224, height: 224, channels: 3 });
  const out = [...photos.slice(0, count)];
  for (let i = 0; out.length < count && i < photos.length; i++) out.push(flipHorizontal(photos[i]));
  while (out.length < count) out.push(noise());
  return out;
}

/**
 * Random feature maps shaped like ResNet's last block (non-negative, sparse, a few large values):
 * [n, 7, 7, channels], row-major.
 */
export function randomFeatureMaps(n: number, channels: number, seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  return Float32Array.from({ length: n * 49 * channels }, () => {
    const u = rng.nextFloat();
    return u < 0.6 ? 0 : -Math.log(1 - rng.nextFloat()) * (u > 0.98 ? 4 : 1);
  });
}
