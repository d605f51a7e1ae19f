import { UserError } from '../util/errors.js';

/**
 * Unit-length copies of `rows` (n x dim, row-major). Cosine similarity of unit vectors is their
 * inner product, so the index stores these and searches by inner product.
 */
export function normalizeRows(rows: Float32Array, dim: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) throw new UserError(`embedding width must be a positive integer, got ${dim}`);
  if (rows.length % dim !== 0) throw new UserError(`${rows.length} embedding values are not a whole number of rows of width ${dim}`);
  const out = new Float32Array(rows.length);
  for (let r = 0; r * dim < rows.length; r++) {
    const row = rows.subarray(r * dim, (r + 1) * dim);
    const norm = Math.sqrt(dotProduct(row, row));
    if (!Number.isFinite(norm)) throw new UserError(`embedding row ${r} holds a non-finite value`);
    if (norm === 0) throw new UserError(`embedding row ${r} is all zeros: it has no direction to index`);
    for (let j = 0; j < dim; j++) out[r * dim + j] = row[j] / norm;
  }
  return out;
}

/** Inner product accumulated in float64, so exact and approximate search score rows identically. */
export function dotProduct(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}
