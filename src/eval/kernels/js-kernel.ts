import type { PreparedCandidates, SimilarityKernel } from './similarity-kernel.js';

/**
 * Pure-JS fallback: cache-blocked, register-tiled dot products (~5 GFLOP/s on one core here,
 * against ~1.3 for a plain triple loop). Always available.
 *
 * Each similarity is accumulated in float64 over k = 0..dim-1 in order, then stored as float32, by
 * both the 4x4 tile and the edge loops: the value of an element does not depend on where it falls
 * in a block, which keeps ties between identical vectors exact.
 */
export const jsKernel: SimilarityKernel = {
  name: 'js',
  prepare(candidates: Float32Array, rows: number, dim: number): PreparedCandidates {
    if (candidates.length < rows * dim) throw new RangeError(`candidates hold ${candidates.length} values, need ${rows * dim}`);
    let out = new Float32Array(0);
    return {
      rows,
      multiply(queries: Float32Array, count: number): Float32Array {
        if (queries.length < count * dim) throw new RangeError(`queries hold ${queries.length} values, need ${count * dim}`);
        if (out.length < count * rows) out = new Float32Array(count * rows);
        const view = out.subarray(0, count * rows);
        dotBlock(view, queries, count, candidates, rows, dim);
        return view;
      },
      dispose(): void {
        out = new Float32Array(0);
      },
    };
  },
};

/** Candidates per cache block: 64 rows x 1024 floats = 256 KiB stays in L2 while every query passes. */
const CANDIDATE_BLOCK = 64;

/** out[i*nc + j] = sum_k q[i*dim+k] * c[j*dim+k]. */
export function dotBlock(out: Float32Array, q: Float32Array, nq: number, c: Float32Array, nc: number, dim: number): void {
  for (let j0 = 0; j0 < nc; j0 += CANDIDATE_BLOCK) {
    const j1 = Math.min(nc, j0 + CANDIDATE_BLOCK);
    const jTiled = j0 + ((j1 - j0) & ~3);
    let i = 0;
    for (; i + 4 <= nq; i += 4) {
      const a0 = i * dim, a1 = a0 + dim, a2 = a1 + dim, a3 = a2 + dim;
      for (let j = j0; j < jTiled; j += 4) {
        const b0 = j * dim, b1 = b0 + dim, b2 = b1 + dim, b3 = b2 + dim;
        // 16 independent accumulators: enough parallel work to hide latency, few enough to stay in registers.
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = 0; k < dim; k++) {
          const x0 = q[a0 + k], x1 = q[a1 + k], x2 = q[a2 + k], x3 = q[a3 + k];
          const y0 = c[b0 + k], y1 = c[b1 + k], y2 = c[b2 + k], y3 = c[b3 + k];
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
          s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
          s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
        }
        let o = i * nc + j;
        out[o] = s00; out[o + 1] = s01; out[o + 2] = s02; out[o + 3] = s03; o += nc;
        out[o] = s10; out[o + 1] = s11; out[o + 2] = s12; out[o + 3] = s13; o += nc;
        out[o] = s20; out[o + 1] = s21; out[o + 2] = s22; out[o + 3] = s23; o += nc;
        out[o] = s30; out[o + 1] = s31; out[o + 2] = s32; out[o + 3] = s33;
      }
      for (let r = i; r < i + 4; r++) dotEdge(out, q, r, c, jTiled, j1, nc, dim);
    }
    for (; i < nq; i++) dotEdge(out, q, i, c, j0, j1, nc, dim);
  }
}

/** One query row against candidates [jStart, jEnd): same summation order as the tiles. */
function dotEdge(out: Float32Array, q: Float32Array, i: number, c: Float32Array, jStart: number, jEnd: number, nc: number, dim: number): void {
  const a = i * dim;
  for (let j = jStart; j < jEnd; j++) {
    const b = j * dim;
    let s = 0;
    for (let k = 0; k < dim; k++) s += q[a + k] * c[b + k];
    out[i * nc + j] = s;
  }
}
