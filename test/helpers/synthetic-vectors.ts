import { SeededRandom } from '../../src/util/random.js';

/** Standard normal samples (Box-Muller) from a seeded generator. */
export function gaussians(rng: SeededRandom, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rng.nextFloat(); // (0, 1]: log(0) would be -Infinity
    const v = rng.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * Rows that look like learned embeddings more than uniform noise does: a random rank-`rank` subspace
 * plus isotropic noise of scale `noise` (rows not normalised). Used by the index benchmark and tests.
 */
export function lowRankVectors(rows: number, dim: number, rank: number, noise: number, seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  const basis = gaussians(rng, rank * dim);
  const out = gaussians(rng, rows * dim);
  const coeffs = new Float32Array(rank);
  for (let r = 0; r < rows; r++) {
    coeffs.set(gaussians(rng, rank));
    const row = out.subarray(r * dim, (r + 1) * dim);
    for (let j = 0; j < dim; j++) row[j] *= noise;
    for (let c = 0; c < rank; c++) {
      const w = coeffs[c] / Math.sqrt(rank);
      const b = basis.subarray(c * dim, (c + 1) * dim);
      for (let j = 0; j < dim; j++) row[j] += w * b[j];
    }
  }
  return out;
}
