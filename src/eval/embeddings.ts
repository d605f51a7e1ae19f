import { UserError } from '../util/errors.js';

/** A row-major matrix of embeddings: row i is values[i*dim .. (i+1)*dim). */
export interface EmbeddingMatrix {
  values: Float32Array;
  rows: number;
  dim: number;
}

/** Wrap a flat row-major array, inferring the row count; `what` names the matrix in errors. */
export function embeddingMatrix(values: Float32Array, dim: number, what = 'embeddings'): EmbeddingMatrix {
  if (!Number.isInteger(dim) || dim <= 0) throw new UserError(`${what}: dimension must be a positive integer, got ${dim}`);
  if (values.length % dim !== 0) {
    throw new UserError(`${what}: ${values.length} values is not a whole number of rows of dimension ${dim}`);
  }
  return { values, rows: values.length / dim, dim };
}

/** Check shape and that every value is finite; `what` names the matrix in the message. */
export function checkEmbeddings(m: EmbeddingMatrix, what: string): void {
  if (!Number.isInteger(m.rows) || m.rows < 0 || !Number.isInteger(m.dim) || m.dim <= 0) {
    throw new UserError(`${what}: invalid shape ${m.rows} x ${m.dim}`);
  }
  if (m.values.length !== m.rows * m.dim) {
    throw new UserError(`${what}: holds ${m.values.length} values, expected ${m.rows} x ${m.dim} = ${m.rows * m.dim}`);
  }
  // A NaN similarity compares false with everything, so a NaN query would silently rank 1.
  const v = m.values;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) {
      throw new UserError(`${what}: row ${Math.floor(i / m.dim)} holds a non-finite value (${v[i]})`);
    }
  }
}

export interface NormalizedRows {
  matrix: EmbeddingMatrix;
  /** How many rows were all zeros (they stay zero: similarity 0 with everything). */
  zeroRows: number;
}

/**
 * Copy of `m` with every row scaled to unit L2 norm, so that a dot product is the cosine
 * similarity. Norms are accumulated in float64.
 * A zero row has no direction; it stays zero, so its similarity with every candidate is 0: it ties
 * with all of them, and since ties count in the query's favour it ranks 1. Callers get the count
 * to warn about it.
 */
export function l2NormalizeRows(m: EmbeddingMatrix): NormalizedRows {
  const { dim, rows } = m;
  const out = new Float32Array(rows * dim);
  let zeroRows = 0;
  for (let r = 0; r < rows; r++) {
    const start = r * dim;
    let sum = 0;
    for (let k = 0; k < dim; k++) {
      const x = m.values[start + k];
      sum += x * x;
    }
    if (sum === 0) {
      zeroRows++;
      continue; // out is already zero-filled
    }
    const scale = 1 / Math.sqrt(sum);
    for (let k = start; k < start + dim; k++) out[k] = m.values[k] * scale;
  }
  return { matrix: { values: out, rows, dim }, zeroRows };
}

/** A new matrix holding the listed rows of `m`, in that order. */
export function gatherRows(m: EmbeddingMatrix, rowIndices: ArrayLike<number>): EmbeddingMatrix {
  const { dim } = m;
  const out = new Float32Array(rowIndices.length * dim);
  for (let r = 0; r < rowIndices.length; r++) {
    const src = rowIndices[r] * dim;
    out.set(m.values.subarray(src, src + dim), r * dim);
  }
  return { values: out, rows: rowIndices.length, dim };
}
