/**
 * A small Recipe1M-layout dataset in a temp folder, with a synthetic feature cache (random float16
 * rows; no photos, no backbone) and label files built by the real prepare-labels code: enough for
 * the training, dictionary and evaluation commands to run end to end in seconds.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareLabels } from '../../src/data/labels/prepare-labels.js';
import { writePickleFile } from '../../src/data/pickle/pickle.js';
import { ROW_VALUES, type ViewTransform } from '../../src/features/cache-format.js';
import { FeatureCacheWriter } from '../../src/features/cache-writer.js';
import { encodeFloat16 } from '../../src/features/float16.js';
import { SeededRandom } from '../../src/util/random.js';

const INGREDIENT_LINES = [
  '2 cups flour', '1 tsp salt', '3 eggs', '1 cup sugar', '2 tbsp butter', '1 cup milk', '2 cloves garlic',
  '1 onion, chopped', '2 tomatoes', '1 lb chicken breast', '1 cup rice', '2 carrots', '1 tbsp olive oil', '1/2 cup cheese',
];
const WORDS = ['soup', 'cake', 'bread', 'stew', 'salad', 'pie', 'roast', 'quick', 'easy', 'spicy', 'sweet', 'classic'];
const STEPS = ['mix the flour and sugar.', 'heat the oil in a pan.', 'bake for 20 minutes.', 'stir well and serve.', 'chop the onion.', 'boil the rice.'];

export interface SyntheticDataset {
  root: string;
  cacheDir: string;
  counts: Record<'train' | 'val' | 'test', { paired: number; textOnly: number }>;
  /** Id of the train recipe with more than 20 ingredient lines. */
  longRecipeId: string;
}

function hexId(rng: SeededRandom): string {
  return Array.from({ length: 10 }, () => rng.nextInt(16).toString(16)).join('');
}

function recipe(rng: SeededRandom, id: string, lines: number, withImage: boolean): Map<string, unknown> {
  const ingredients = Array.from({ length: lines }, () => INGREDIENT_LINES[rng.nextInt(INGREDIENT_LINES.length)]);
  return new Map<string, unknown>([
    ['title', `${WORDS[rng.nextInt(WORDS.length)]} ${WORDS[rng.nextInt(WORDS.length)]}`],
    ['ingredients', ingredients],
    ['instructions', Array.from({ length: 2 + rng.nextInt(3) }, () => STEPS[rng.nextInt(STEPS.length)])],
    ['images', withImage ? [`${id}.jpg`] : []],
  ]);
}

const TRANSFORMS: ViewTransform[] = [
  { kind: 'test', resize: 256, crop: 224, normalisation: 'caffe' },
  { kind: 'train', resize: 256, crop: 224, normalisation: 'caffe', seed: 1, flip: true },
  { kind: 'train', resize: 256, crop: 224, normalisation: 'caffe', seed: 1, flip: true },
];

/**
 * Train 10 pairs + 4 text-only (one pair has 22 ingredient lines), val 6 pairs, test 6 pairs + 3
 * text-only; features for view 0 of every split and views 1..2 of train; top-8 ingredient labels.
 */
export async function makeSyntheticDataset(seed = 7): Promise<SyntheticDataset> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-train-'));
  const cacheDir = path.join(root, '.cache', 'features');
  const rng = new SeededRandom(seed);
  const counts = { train: { paired: 10, textOnly: 4 }, val: { paired: 6, textOnly: 0 }, test: { paired: 6, textOnly: 3 } };
  let longRecipeId = '';
  for (const split of ['train', 'val', 'test'] as const) {
    const paired = new Map<string, Map<string, unknown>>();
    for (let i = 0; i < counts[split].paired; i++) {
      const id = hexId(rng);
      const long = split === 'train' && i === 0;
      if (long) longRecipeId = id;
      paired.set(id, recipe(rng, id, long ? 22 : 3 + rng.nextInt(4), true));
    }
    await writePickleFile(path.join(root, `${split}.pkl`), paired, { protocol: 4 });
    if (counts[split].textOnly) {
      const textOnly = new Map<string, Map<string, unknown>>();
      for (let i = 0; i < counts[split].textOnly; i++) {
        const id = hexId(rng);
        textOnly.set(id, recipe(rng, id, 3 + rng.nextInt(4), false));
      }
      await writePickleFile(path.join(root, `${split}_noimages.pkl`), textOnly, { protocol: 4 });
    }
    const views = split === 'train' ? 3 : 1;
    for (let view = 0; view < views; view++) {
      const writer = await FeatureCacheWriter.open(cacheDir, split, view, { backboneHash: 'synthetic', transform: TRANSFORMS[view] });
      for (const id of paired.keys()) {
        // Non-negative, ReLU-like activations, as the backbone's last block gives.
        const row = new Float32Array(ROW_VALUES);
        for (let k = 0; k < ROW_VALUES; k++) row[k] = Math.max(0, rng.nextFloat() * 2 - 1);
        writer.add([`${id}.jpg`, id, 1000, 0], encodeFloat16(row));
      }
      await writer.finish({ finishedAt: new Date(0).toISOString(), listed: paired.size, missing: [], unreadable: [] });
    }
  }
  await prepareLabels(root, { topK: 8 });
  return { root, cacheDir, counts, longRecipeId };
}
