import type { HierarchicalNSW } from 'hnswlib-node';
import { UserError } from '../util/errors.js';
import { byScore, exactTopK, type ScoredRow } from './exact-search.js';
import type { HnswParams, IndexSpace } from './manifest.js';
import { projectQuery, type Projection } from './projection.js';
import { dotProduct } from './vectors.js';

export interface SearchHit {
  /** Row in the index (= position in recipes.json). */
  row: number;
  /** Recipe id. */
  id: string;
  /** Cosine similarity to the query (inner product for an 'ip' index). */
  score: number;
}

export interface SearchOptions {
  /** Results wanted, 1..100 (fewer come back when the index holds fewer recipes). Default 10. */
  k?: number;
  /** HNSW search breadth, k..1000: higher is slower and closer to exact. Default: the index's efSearch. */
  ef?: number;
}

export const MAX_K = 100;
export const MAX_EF = 1000;

/**
 * A complete recipe index: the HNSW graph over the (normalised) vectors, the vectors themselves (for
 * exact search and exact scores) and the recipe id of each row. Read-only once made: hnswlib is not
 * safe when inserts and searches mix, so nothing here inserts.
 */
export class RecipeIndex {
  private currentEf: number;

  constructor(
    private readonly hnsw: HierarchicalNSW,
    /** count x dim, row-major; unit length for a cosine index. */
    readonly vectors: Float32Array,
    readonly ids: readonly string[],
    readonly dim: number,
    readonly space: IndexSpace,
    readonly params: HnswParams,
    /** How long building the graph took (from the manifest for a loaded index). */
    readonly buildMs: number,
    /** The graph's space when it holds projected vectors (params.projectedDim wide); absent: full vectors. */
    readonly projection?: Projection,
  ) {
    if (vectors.length !== ids.length * dim) throw new Error(`index: ${vectors.length} values for ${ids.length} ids of width ${dim}`);
    this.currentEf = params.efSearch;
    hnsw.setEf(this.currentEf);
  }

  get count(): number {
    return this.ids.length;
  }

  /** The ef the HNSW graph is set to now (as hnswlib reports it). */
  get hnswEf(): number {
    return this.hnsw.getEf();
  }

  /** Write the HNSW graph (hnswlib's own format) to `file`. */
  writeGraph(file: string): Promise<boolean> {
    return this.hnsw.writeIndex(file);
  }

  /** Approximate nearest recipes by HNSW, scored exactly, best first. */
  search(query: Float32Array, options: SearchOptions = {}): SearchHit[] {
    const k = this.checkK(options.k ?? 10);
    const ef = options.ef ?? Math.max(this.params.efSearch, k);
    if (!Number.isInteger(ef) || ef < k || ef > MAX_EF) throw new UserError(`ef must be an integer from k (${k}) to ${MAX_EF}, got ${ef}`);
    const q = this.prepareQuery(query);
    if (ef !== this.currentEf) {
      this.hnsw.setEf(ef);
      this.currentEf = ef;
    }
    // A projected graph ranks by approximate scores: take more candidates than asked (half the
    // search breadth) and let the exact re-scoring below pick the k best.
    const candidates = this.projection ? Math.min(this.count, Math.max(k, Math.ceil(ef / 2))) : Math.min(k, this.count);
    const found = this.hnsw.searchKnn(Array.from(this.projection ? projectQuery(this.projection, q) : q), candidates);
    const scored = found.neighbors.map((row) => ({ row, score: this.scoreRow(row, q) }));
    return this.hits(scored.sort(byScore).slice(0, k));
  }

  /** The true k nearest by scoring every row: for recall measurement, and small indexes. */
  exactSearch(query: Float32Array, options: { k?: number } = {}): SearchHit[] {
    const k = this.checkK(options.k ?? 10);
    return this.hits(exactTopK(this.vectors, this.dim, this.prepareQuery(query), Math.min(k, this.count)));
  }

  private checkK(k: number): number {
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new UserError(`k must be an integer from 1 to ${MAX_K}, got ${k}`);
    return k;
  }

  /** Validate a query and, for a cosine index, bring it to unit length. */
  private prepareQuery(query: Float32Array): Float32Array {
    if (!(query instanceof Float32Array) || query.length !== this.dim) {
      throw new UserError(`query must be a Float32Array of width ${this.dim}, got ${query instanceof Float32Array ? `width ${query.length}` : typeof query}`);
    }
    const norm = Math.sqrt(dotProduct(query, query));
    if (!Number.isFinite(norm)) throw new UserError('query holds a non-finite value');
    if (this.space === 'ip') return query;
    if (norm === 0) throw new UserError('query is all zeros: cosine similarity is undefined');
    return query.map((v) => v / norm);
  }

  private scoreRow(row: number, q: Float32Array): number {
    return dotProduct(this.vectors.subarray(row * this.dim, (row + 1) * this.dim), q);
  }

  private hits(rows: ScoredRow[]): SearchHit[] {
    return rows.map(({ row, score }) => ({ row, id: this.ids[row], score }));
  }
}
