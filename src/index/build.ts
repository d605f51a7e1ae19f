import hnswlib from 'hnswlib-node';
import { UserError } from '../util/errors.js';
import type { HnswParams, IndexSpace } from './manifest.js';
import { fitProjection, projectRows } from './projection.js';
import { RecipeIndex } from './recipe-index.js';
import { normalizeRows } from './vectors.js';

export interface BuildIndexOptions {
  /** count x dim recipe embeddings, row-major. */
  embeddings: Float32Array;
  dim: number;
  /** Recipe id of each row. */
  ids: readonly string[];
  /** Default 'cosine': rows are normalised and searched by inner product. */
  space?: IndexSpace;
  /** HNSW links per node (default 16). */
  M?: number;
  /** Build-time search breadth (default 200). */
  efConstruction?: number;
  /** Default search breadth stored with the index (default 100). */
  efSearch?: number;
  /** hnswlib's level generator seed: same inputs and seed give the same graph (default 100). */
  seed?: number;
  /**
   * Build the graph over the vectors projected onto their top principal directions: a number, 0
   * for none, or 'auto' (default): 256 when the vectors are wider than 256 and there are at least
   * 10,000 of them (below that the full-width build takes seconds anyway).
   */
  projectedDim?: number | 'auto';
  onProgress?: (added: number, total: number) => void;
}

/** Measured on 50k x 1024 low-rank vectors: 256 wide keeps recall@10 at ef 400 (0.97) and builds ~4x faster. */
const AUTO_PROJECTED_DIM = 256;
const AUTO_PROJECTION_MIN_ROWS = 10_000;

/** Points added between yields to the event loop (progress lines and signals get a turn). */
const YIELD_EVERY = 512;

/**
 * Build the HNSW graph over the recipe embeddings; labels are row numbers. Insertion is single
 * threaded and in row order, so a build is reproducible from its seed.
 */
export async function buildRecipeIndex(options: BuildIndexOptions): Promise<RecipeIndex> {
  const { embeddings, dim, ids } = options;
  const space = options.space ?? 'cosine';
  const params: HnswParams = {
    M: options.M ?? 16,
    efConstruction: options.efConstruction ?? 200,
    efSearch: options.efSearch ?? 100,
    seed: options.seed ?? 100,
  };
  if (space !== 'cosine' && space !== 'ip') throw new UserError(`index space must be cosine or ip, got ${String(space)}`);
  for (const [key, value] of Object.entries(params)) {
    if (!Number.isInteger(value) || value < (key === 'seed' ? 0 : 1)) throw new UserError(`index ${key} must be a ${key === 'seed' ? 'non-negative' : 'positive'} integer, got ${value}`);
  }
  if (params.M < 2) throw new UserError(`index M must be at least 2, got ${params.M}`);
  if (ids.length === 0) throw new UserError('cannot build an index of zero recipes');
  if (embeddings.length !== ids.length * dim) {
    throw new UserError(`${embeddings.length} embedding values do not make ${ids.length} rows of width ${dim}`);
  }
  if (new Set(ids).size !== ids.length) throw new UserError('recipe ids must be unique');
  const vectors = space === 'cosine' ? normalizeRows(embeddings, dim) : embeddings.slice();

  const requested = options.projectedDim ?? 'auto';
  const reducedDim = requested === 'auto' ? (dim > AUTO_PROJECTED_DIM && ids.length >= AUTO_PROJECTION_MIN_ROWS ? AUTO_PROJECTED_DIM : 0) : requested;
  if (!Number.isInteger(reducedDim) || reducedDim < 0 || (reducedDim > 0 && reducedDim >= dim)) throw new UserError(`projected width must be 0 (none) or 1..${dim - 1}, got ${reducedDim}`);

  const started = performance.now();
  const projection = reducedDim > 0 ? await fitProjection(vectors, ids.length, dim, reducedDim, params.seed) : undefined;
  const graphVectors = projection ? await projectRows(projection, vectors, ids.length) : vectors;
  const width = projection ? reducedDim : dim;
  if (projection) params.projectedDim = reducedDim;
  // Both spaces use hnswlib's inner-product space: cosine rows are already unit length.
  const hnsw = new hnswlib.HierarchicalNSW('ip', width);
  hnsw.initIndex(ids.length, params.M, params.efConstruction, params.seed);
  for (let row = 0; row < ids.length; row++) {
    hnsw.addPoint(Array.from(graphVectors.subarray(row * width, (row + 1) * width)), row);
    if ((row + 1) % YIELD_EVERY === 0 || row + 1 === ids.length) {
      options.onProgress?.(row + 1, ids.length);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  const buildMs = performance.now() - started;
  return new RecipeIndex(hnsw, vectors, [...ids], dim, space, params, buildMs, projection);
}
