import { SeededRandom } from '../util/random.js';

/**
 * `runs` random subsets of `size` distinct pair indices out of 0..total-1, reproducible from
 * `seed`: one generator draws all runs in order, each by a partial Fisher-Yates shuffle of a fresh
 * 0..total-1. Indices come back sorted (the order of pairs does not change any rank).
 */
export function drawSubsets(total: number, size: number, runs: number, seed: number): Int32Array[] {
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`total must be a non-negative integer, got ${total}`);
  if (!Number.isInteger(size) || size < 1 || size > total) throw new RangeError(`subset size must be 1..${total}, got ${size}`);
  const rng = new SeededRandom(seed);
  const subsets: Int32Array[] = [];
  for (let run = 0; run < runs; run++) {
    const perm = new Int32Array(total);
    for (let i = 0; i < total; i++) perm[i] = i;
    for (let i = 0; i < size; i++) {
      const j = i + rng.nextInt(total - i);
      const tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
    }
    subsets.push(perm.slice(0, size).sort());
  }
  return subsets;
}
