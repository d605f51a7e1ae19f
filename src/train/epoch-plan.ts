import { SeededRandom } from '../util/random.js';

/** One training example of a batch: the pair's index and the feature view it reads (0 = centre crop). */
export interface PlannedExample {
  pair: number;
  view: number;
}

/**
 * A generator for one epoch, from (run seed, epoch) alone: nothing random carries over from one
 * epoch to the next, so a run resumed at epoch e draws exactly what an uninterrupted run draws.
 */
export function epochRandom(seed: number, epoch: number): SeededRandom {
  // Two mixing rounds of the pair into one 32-bit state (the constants are splitmix's).
  const mixed = Math.imul((seed >>> 0) ^ Math.imul(epoch + 1, 0x9e3779b9), 0x85ebca6b) >>> 0;
  return new SeededRandom(Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35) >>> 0);
}

/**
 * The batches of one epoch: pairs shuffled, each reading a uniformly drawn augmented view 1..views
 * (view 0 when there are none). A final batch of a single pair is dropped: the in-batch triplet
 * loss has no negative for it.
 */
export function planEpoch(seed: number, epoch: number, pairCount: number, views: number, batchSize: number): PlannedExample[][] {
  const rng = epochRandom(seed, epoch);
  const order = rng.shuffle(Array.from({ length: pairCount }, (_, i) => i));
  const examples = order.map((pair) => ({ pair, view: views > 0 ? 1 + rng.nextInt(views) : 0 }));
  const batches: PlannedExample[][] = [];
  for (let i = 0; i < examples.length; i += batchSize) batches.push(examples.slice(i, i + batchSize));
  if (batches.length > 1 && batches[batches.length - 1].length < 2) batches.pop();
  return batches;
}

/** Dropout seed of one step: a function of (seed, epoch, step) for the same reason. */
export function stepDropoutSeed(seed: number, epoch: number, step: number): string {
  return `${seed}.${epoch}.${step}`;
}
