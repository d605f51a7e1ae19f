/**
 * A similarity kernel computes blocks of dot products between query rows and candidate rows
 * (both row-major float32, rows already L2-normalised by the caller).
 *
 * Candidates are prepared once (the wasm kernel transposes and uploads them) and then multiplied
 * by many small blocks of queries, so memory stays bounded by (block rows x candidates).
 */
export type KernelName = 'ort' | 'js' | 'wasm' | 'tfjs-cpu';
/** What callers may ask for: 'auto' = onnxruntime, else wasm, else js (the first that initialises). */
export type KernelChoice = 'auto' | 'ort' | 'wasm' | 'js';
export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'ort', 'wasm', 'js'];

export interface SimilarityKernel {
  readonly name: KernelName;
  /** Query rows per product this kernel is fastest with (the rank pass uses it unless told otherwise). */
  readonly preferredRowBlock?: number;
  /** Prepare `rows` candidate rows of dimension `dim` (a copy is taken where needed). */
  prepare(candidates: Float32Array, rows: number, dim: number): PreparedCandidates;
}

export interface PreparedCandidates {
  readonly rows: number;
  /**
   * Similarities of `count` query rows (row-major count x dim) with every prepared candidate:
   * row-major count x rows. The returned array is only valid until the next multiply() or
   * dispose() on this object (it may be a view into reused or wasm memory). Kernels that compute
   * off the event loop (onnxruntime) return a promise.
   */
  multiply(queries: Float32Array, count: number): Float32Array | Promise<Float32Array>;
  dispose(): void;
}
