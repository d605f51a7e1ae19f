import { createOrtKernel } from '../eval/kernels/ort-kernel.js';
import type { SimilarityKernel } from '../eval/kernels/similarity-kernel.js';
import { SeededRandom } from '../util/random.js';

/**
 * A linear map of index vectors onto their top principal directions (uncentred: the directions
 * that carry the most inner product), stored as `reducedDim` orthonormal rows of width `dim`. The
 * HNSW graph is built and walked in the reduced space, where every distance costs reducedDim
 * instead of dim multiplications; candidates are then re-scored exactly with the full vectors.
 */
export interface Projection {
  dim: number;
  reducedDim: number;
  /** reducedDim x dim, row-major, orthonormal rows. */
  basis: Float32Array;
}

/** Rows sampled to estimate the second-moment matrix: plenty for its top directions, and bounded. */
const SAMPLE_ROWS = 4096;
const ITERATIONS = 8;

let kernel: Promise<SimilarityKernel> | undefined;
const gemm = () => (kernel ??= createOrtKernel());

/**
 * Fit the projection by subspace iteration on the sampled second-moment matrix C = X^T X / n
 * (products through onnxruntime's Gemm), Gram-Schmidt between iterations; seeded, so a build is
 * reproducible.
 */
export async function fitProjection(vectors: Float32Array, count: number, dim: number, reducedDim: number, seed = 1): Promise<Projection> {
  if (!(reducedDim >= 1 && reducedDim < dim)) throw new RangeError(`projected width must be 1..${dim - 1}, got ${reducedDim}`);
  const k = await gemm();
  const rows = Math.min(count, SAMPLE_ROWS);
  const stride = count / rows;
  // Sample transposed (dim x rows) so that C = S^T S is one product of its rows with themselves.
  const sampleT = new Float32Array(dim * rows);
  for (let s = 0; s < rows; s++) {
    const r = Math.floor(s * stride);
    for (let j = 0; j < dim; j++) sampleT[j * rows + s] = vectors[r * dim + j];
  }
  const prepared = k.prepare(sampleT, dim, rows);
  const second = (await prepared.multiply(sampleT, dim)).slice();
  prepared.dispose();

  const rng = new SeededRandom(seed);
  let basis = Float32Array.from({ length: reducedDim * dim }, () => rng.nextFloat() - 0.5);
  orthonormalizeRows(basis, reducedDim, dim);
  const cov = k.prepare(second, dim, dim);
  for (let it = 0; it < ITERATIONS; it++) {
    basis = (await cov.multiply(basis, reducedDim)).slice(); // rows of V C (C symmetric)
    orthonormalizeRows(basis, reducedDim, dim);
  }
  cov.dispose();
  return { dim, reducedDim, basis };
}

/** count x dim rows -> count x reducedDim coordinates in the projection's basis. */
export async function projectRows(p: Projection, vectors: Float32Array, count: number): Promise<Float32Array> {
  const k = await gemm();
  const prepared = k.prepare(p.basis, p.reducedDim, p.dim);
  const out = new Float32Array(count * p.reducedDim);
  // Blocks bound the temporary output; each is copied out before the next product.
  const block = 8192;
  for (let r0 = 0; r0 < count; r0 += block) {
    const r1 = Math.min(count, r0 + block);
    out.set(await prepared.multiply(vectors.subarray(r0 * p.dim, r1 * p.dim), r1 - r0), r0 * p.reducedDim);
  }
  prepared.dispose();
  return out;
}

/** One query's coordinates (float64 sums; a query is one row, no Gemm needed). */
export function projectQuery(p: Projection, q: Float32Array): Float32Array {
  const out = new Float32Array(p.reducedDim);
  for (let r = 0; r < p.reducedDim; r++) {
    let s = 0;
    const o = r * p.dim;
    for (let j = 0; j < p.dim; j++) s += p.basis[o + j] * q[j];
    out[r] = s;
  }
  return out;
}

/** Modified Gram-Schmidt on the rows, in float64 per row; a row that vanishes becomes a unit axis not yet spanned. */
function orthonormalizeRows(m: Float32Array, rows: number, dim: number): void {
  const row = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) row[j] = m[r * dim + j];
    for (let p = 0; p < r; p++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += row[j] * m[p * dim + j];
      for (let j = 0; j < dim; j++) row[j] -= d * m[p * dim + j];
    }
    let norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    for (let axis = 0; !(norm > 1e-6) && axis < dim; axis++) {
      row.fill(0);
      row[axis] = 1;
      for (let p = 0; p < r; p++) {
        const d = m[p * dim + axis];
        for (let j = 0; j < dim; j++) row[j] -= d * m[p * dim + j];
      }
      norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    }
    for (let j = 0; j < dim; j++) m[r * dim + j] = row[j] / norm;
  }
}
