import type { EmbeddingMatrix } from './embeddings.js';
import type { SimilarityKernel } from './kernels/similarity-kernel.js';

export interface RankOptions {
  kernel: SimilarityKernel;
  /** Query rows per product (default: the kernel's preference, else 256); memory holds at most rowBlock x columnChunk similarities. */
  rowBlock?: number;
  /** Candidate columns prepared at once (bounds the wasm heap: 16384 x 1024 floats = 64 MiB). */
  columnChunk?: number;
  /** Checked between blocks; aborting rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface TrueMatchRanks {
  /** Rank (1 = best) of recipe i among all recipes (and extra recipes) for image query i. */
  imageToRecipe: Int32Array;
  /** Rank of image j among all images for recipe query j. */
  recipeToImage: Int32Array;
}

export const DEFAULT_ROW_BLOCK = 256;
export const DEFAULT_COLUMN_CHUNK = 16384;

/**
 * Ranks of the true matches, with rows of `images` and `recipes` already L2-normalised and row i
 * of each being pair i. S[i][j] = <image i, recipe j>, defined exactly as the float64 sum over k in
 * order of the float32 products (so identical vectors tie exactly, whatever the kernel). Rank of
 * image query i = 1 + #{j != i : S[i][j] > S[i][i]} over recipes and extra recipes; rank of recipe
 * query j = 1 + #{i != j : S[i][j] > S[j][j]} over images. "Strictly greater": ties count in the
 * query's favour. Extra recipes are candidates for image queries only.
 *
 * The kernel computes S block by block (rowBlock x columnChunk) in float32, and both directions
 * are counted as it goes; S is never held whole. A float32 dot product of unit vectors is within
 * `tolerance` (a rigorous bound, ~6e-5 at dim 1024) of the exact value, so a comparison whose kernel
 * value is further than that from the exact diagonal is settled by the kernel value; the few within
 * it are recomputed exactly. The ranks therefore do not depend on the kernel, its blocking or its
 * summation order. (Degenerate embeddings, e.g. a collapsed model's identical rows, make every
 * comparison a near-tie: still right, at JS speed.)
 */
export async function rankTrueMatches(
  images: EmbeddingMatrix,
  recipes: EmbeddingMatrix,
  extraRecipes: EmbeddingMatrix | undefined,
  options: RankOptions,
): Promise<TrueMatchRanks> {
  const { kernel, signal } = options;
  const rowBlock = positiveInt(options.rowBlock ?? kernel.preferredRowBlock ?? DEFAULT_ROW_BLOCK, 'rowBlock');
  const columnChunk = positiveInt(options.columnChunk ?? DEFAULT_COLUMN_CHUNK, 'columnChunk');
  const n = images.rows;
  const dim = images.dim;
  if (recipes.rows !== n || recipes.dim !== dim) throw new RangeError(`recipes are ${recipes.rows} x ${recipes.dim}, images ${n} x ${dim}`);
  if (extraRecipes && extraRecipes.dim !== dim) throw new RangeError(`extra recipes have dimension ${extraRecipes.dim}, images ${dim}`);
  const m = extraRecipes?.rows ?? 0;
  const tol = kernelTolerance(dim);

  const diag = new Float64Array(n);
  for (let i = 0; i < n; i++) diag[i] = exactDot(images.values, i * dim, recipes.values, i * dim, dim);
  const rowCount = new Int32Array(n);
  const colCount = new Int32Array(n);
  const candidate = (j: number): [Float32Array, number] =>
    j < n ? [recipes.values, j * dim] : [(extraRecipes as EmbeddingMatrix).values, (j - n) * dim];

  for (let c0 = 0; c0 < n + m; c0 += columnChunk) {
    const c1 = Math.min(n + m, c0 + columnChunk);
    const width = c1 - c0;
    const pairEnd = Math.max(0, Math.min(width, n - c0)); // columns [0, pairEnd) are recipes of pairs
    const prepared = kernel.prepare(candidateRows(recipes, extraRecipes, c0, c1), width, dim);
    // Below these a kernel value is certainly not above the diagonal it is compared with; the
    // scan only looks closer (rarely: rank - 1 times per query, plus near-ties) at values above.
    const colLow = new Float64Array(pairEnd);
    for (let c = 0; c < pairEnd; c++) colLow[c] = diag[c0 + c] - tol;
    try {
      for (let r0 = 0; r0 < n; r0 += rowBlock) {
        const r1 = Math.min(n, r0 + rowBlock);
        const s = await prepared.multiply(images.values.subarray(r0 * dim, r1 * dim), r1 - r0);
        for (let i = 0; i < r1 - r0; i++) {
          const gi = r0 + i;
          const di = diag[gi];
          const rowLow = di - tol;
          const base = i * width;
          let above = 0;
          for (let c = 0; c < width; c++) {
            const v = s[base + c];
            const rowSide = v >= rowLow;
            const colSide = c < pairEnd && v >= colLow[c];
            if (!rowSide && !colSide) continue;
            const j = c0 + c;
            // Near-ties (rare: a few hundred per 10^8 comparisons on real embeddings) are recomputed
            // exactly; the true pair always lands there and is never its own competitor.
            let exact = NaN;
            if (rowSide) {
              if (v - di > tol) above++;
              else if (j !== gi) {
                const [values, offset] = candidate(j);
                exact = exactDot(images.values, gi * dim, values, offset, dim);
                if (exact > di) above++;
              }
            }
            if (colSide) {
              if (v - diag[j] > tol) colCount[j]++;
              else if (j !== gi) {
                if (Number.isNaN(exact)) exact = exactDot(images.values, gi * dim, recipes.values, j * dim, dim);
                if (exact > diag[j]) colCount[j]++;
              }
            }
          }
          rowCount[gi] += above;
        }
        await breathe(signal);
      }
    } finally {
      prepared.dispose();
    }
  }
  return { imageToRecipe: plusOne(rowCount), recipeToImage: plusOne(colCount) };
}

/**
 * A rigorous bound on |kernel value - exact value| for vectors of norm <= 1 (+ rounding): float32
 * accumulation of dim products errs by at most gamma_dim = dim u / (1 - dim u) with u = 2^-24
 * (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), whatever the order or blocking;
 * the slack covers the inputs' norms exceeding 1 by a few ulps and the output's final rounding.
 */
export function kernelTolerance(dim: number): number {
  const u = 2 ** -24;
  const gamma = ((dim + 2) * u) / (1 - (dim + 2) * u);
  return 1.01 * gamma + 4 * u;
}

/** The exact similarity: float64 sum, k in order, of the (exactly representable) products of float32 entries. */
export function exactDot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) s += a[ao + k] * b[bo + k];
  return s;
}

/** Candidate rows [c0, c1) of recipes followed by extra recipes; a view when they come from one matrix. */
function candidateRows(recipes: EmbeddingMatrix, extra: EmbeddingMatrix | undefined, c0: number, c1: number): Float32Array {
  const { rows: n, dim } = recipes;
  if (c1 <= n) return recipes.values.subarray(c0 * dim, c1 * dim);
  if (!extra) throw new RangeError('candidate columns beyond the recipes without extra recipes');
  if (c0 >= n) return extra.values.subarray((c0 - n) * dim, (c1 - n) * dim);
  const out = new Float32Array((c1 - c0) * dim);
  out.set(recipes.values.subarray(c0 * dim, n * dim), 0);
  out.set(extra.values.subarray(0, (c1 - n) * dim), (n - c0) * dim);
  return out;
}

/** Let the event loop run between blocks (a server stays responsive) and honour aborts. */
async function breathe(signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
}

function plusOne(counts: Int32Array): Int32Array {
  for (let i = 0; i < counts.length; i++) counts[i] += 1;
  return counts;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
