import { dotProduct } from './vectors.js';

export interface ScoredRow {
  row: number;
  score: number;
}

/** Best first; equal scores by row number, so results are reproducible. */
export function byScore(a: ScoredRow, b: ScoredRow): number {
  return b.score - a.score || a.row - b.row;
}

/**
 * The k rows of `vectors` (n x dim) with the largest inner product with `query`, by scoring every row:
 * the reference that approximate (HNSW) results are measured against. Keeps a small sorted list, so
 * memory stays O(k) and time O(n * dim).
 */
export function exactTopK(vectors: Float32Array, dim: number, query: Float32Array, k: number): ScoredRow[] {
  const rows = vectors.length / dim;
  const best: ScoredRow[] = [];
  for (let r = 0; r < rows; r++) {
    const score = dotProduct(vectors.subarray(r * dim, (r + 1) * dim), query);
    if (best.length === k && score <= best[k - 1].score) continue;
    let i = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push({ row: r, score });
    // Insertion from the end: ties keep the earlier (smaller) row first.
    while (i > 0 && best[i - 1].score < score) {
      best[i] = best[i - 1];
      i--;
    }
    best[i] = { row: r, score };
  }
  return best;
}
