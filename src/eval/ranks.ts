import type { EmbeddingMatrix } from './embeddings.js';
import type { PreparedCandidates, SimilarityKernel } from './kernels/similarity-kernel.js';

export interface RankOptions {
  kernel: SimilarityKernel;
  /** Query rows per product; memory holds at most rowBlock x columnChunk similarities. */
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
 * of each being pair i. S[i][j] = <image i, recipe j>. Rank of image query i = 1 + #{j : S[i][j] >
 * S[i][i]} over recipes and extra recipes; rank of recipe query j = 1 + #{i : S[i][j] > S[j][j]}
 * over images. "Strictly greater": ties count in the query's favour. Extra recipes are candidates
 * for image queries only.
 *
 * One pass computes S block by block (rowBlock x columnChunk) and counts both directions as it
 * goes; S is never held whole. The column direction needs every S[j][j] before the pass, so a
 * pre-pass computes the diagonal with the same kernel (an extra n x rowBlock x dim products, ~2.5%
 * at n = 10k), and both directions compare against those values.
 */
export async function rankTrueMatches(
  images: EmbeddingMatrix,
  recipes: EmbeddingMatrix,
  extraRecipes: EmbeddingMatrix | undefined,
  options: RankOptions,
): Promise<TrueMatchRanks> {
  const { kernel, signal } = options;
  const rowBlock = positiveInt(options.rowBlock ?? DEFAULT_ROW_BLOCK, 'rowBlock');
  const columnChunk = positiveInt(options.columnChunk ?? DEFAULT_COLUMN_CHUNK, 'columnChunk');
  const n = images.rows;
  const dim = images.dim;
  if (recipes.rows !== n || recipes.dim !== dim) throw new RangeError(`recipes are ${recipes.rows} x ${recipes.dim}, images ${n} x ${dim}`);
  if (extraRecipes && extraRecipes.dim !== dim) throw new RangeError(`extra recipes have dimension ${extraRecipes.dim}, images ${dim}`);
  const m = extraRecipes?.rows ?? 0;

  const diag = await diagonal(images, recipes, kernel, rowBlock, signal);
  const rowCount = new Int32Array(n);
  const colCount = new Int32Array(n);

  for (let c0 = 0; c0 < n + m; c0 += columnChunk) {
    const c1 = Math.min(n + m, c0 + columnChunk);
    const width = c1 - c0;
    const pairEnd = Math.max(0, Math.min(width, n - c0)); // columns [0, pairEnd) are recipes of pairs
    const prepared = kernel.prepare(candidateRows(recipes, extraRecipes, c0, c1), width, dim);
    try {
      for (let r0 = 0; r0 < n; r0 += rowBlock) {
        const r1 = Math.min(n, r0 + rowBlock);
        const s = prepared.multiply(images.values.subarray(r0 * dim, r1 * dim), r1 - r0);
        for (let i = 0; i < r1 - r0; i++) {
          const gi = r0 + i;
          const di = diag[gi];
          const base = i * width;
          let above = 0;
          for (let c = 0; c < pairEnd; c++) {
            const v = s[base + c];
            if (v > di) above++;
            if (v > diag[c0 + c]) colCount[c0 + c]++;
          }
          for (let c = pairEnd; c < width; c++) if (s[base + c] > di) above++;
          // The true pair is never its own competitor, whatever the kernel's rounding did.
          if (gi >= c0 && gi < c0 + pairEnd && s[base + gi - c0] > di) {
            above--;
            colCount[gi]--;
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

/** S[i][i] for every pair, computed by the same kernel on rowBlock x rowBlock diagonal blocks. */
async function diagonal(images: EmbeddingMatrix, recipes: EmbeddingMatrix, kernel: SimilarityKernel, rowBlock: number, signal?: AbortSignal): Promise<Float32Array> {
  const { rows: n, dim } = images;
  const diag = new Float32Array(n);
  for (let r0 = 0; r0 < n; r0 += rowBlock) {
    const r1 = Math.min(n, r0 + rowBlock);
    const w = r1 - r0;
    let prepared: PreparedCandidates | undefined;
    try {
      prepared = kernel.prepare(recipes.values.subarray(r0 * dim, r1 * dim), w, dim);
      const s = prepared.multiply(images.values.subarray(r0 * dim, r1 * dim), w);
      for (let i = 0; i < w; i++) diag[r0 + i] = s[i * w + i];
    } finally {
      prepared?.dispose();
    }
    await breathe(signal);
  }
  return diag;
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
