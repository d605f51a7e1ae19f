/** Retrieval metrics of one ranking run: medR and recall at 1/5/10 in percent (0..100). */
export interface RankMetrics {
  medR: number;
  r1: number;
  r5: number;
  r10: number;
}

/**
 * Median; for an even count the mean of the two middle values, as numpy.median (which HT's
 * evaluation uses), so medR can be a half-integer such as 2.5.
 */
export function median(values: ArrayLike<number>): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Percentage of queries whose true match ranks within the top k. */
export function recallAt(ranks: ArrayLike<number>, k: number): number {
  if (ranks.length === 0) throw new RangeError('recall of an empty list');
  let hits = 0;
  for (let i = 0; i < ranks.length; i++) if (ranks[i] <= k) hits++;
  return (100 * hits) / ranks.length;
}

export function rankMetrics(ranks: ArrayLike<number>): RankMetrics {
  return { medR: median(ranks), r1: recallAt(ranks, 1), r5: recallAt(ranks, 5), r10: recallAt(ranks, 10) };
}

/** Mean and population standard deviation (ddof 0, numpy's default) of each metric over runs. */
export function summarizeRuns(runs: readonly RankMetrics[]): { mean: RankMetrics; std: RankMetrics } {
  if (runs.length === 0) throw new RangeError('no runs to summarise');
  const keys = ['medR', 'r1', 'r5', 'r10'] as const;
  const mean = { medR: 0, r1: 0, r5: 0, r10: 0 };
  const std = { medR: 0, r1: 0, r5: 0, r10: 0 };
  for (const key of keys) {
    const values = runs.map((r) => r[key]);
    const mu = values.reduce((a, b) => a + b, 0) / values.length;
    mean[key] = mu;
    std[key] = Math.sqrt(values.reduce((a, v) => a + (v - mu) * (v - mu), 0) / values.length);
  }
  return { mean, std };
}
