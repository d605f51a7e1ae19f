/** A float32 parameter with its shape (PyTorch layout unless a function says otherwise). */
export interface Tensor32 {
  data: Float32Array;
  dims: readonly number[];
}

export function tensor32(data: Float32Array, dims: readonly number[]): Tensor32 {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`${data.length} values do not fill dims [${dims.join(',')}]`);
  return { data, dims: [...dims] };
}

/** [rows, cols] -> [cols, rows]. */
export function transpose2d(t: Tensor32): Tensor32 {
  const [rows, cols] = expectRank(t, 2, 'transpose2d');
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  return { data: out, dims: [cols, rows] };
}

/** Rows [start, end) of a 2-D (or the elements of a 1-D) tensor, e.g. one of q/k/v in a packed in_proj. */
export function sliceRows(t: Tensor32, start: number, end: number): Tensor32 {
  const rowSize = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return { data: t.data.slice(start * rowSize, end * rowSize), dims: [end - start, ...t.dims.slice(1)] };
}

export function expectRank(t: Tensor32, rank: number, what: string): number[] {
  if (t.dims.length !== rank) throw new Error(`${what}: expected a rank-${rank} tensor, got dims [${t.dims.join(',')}]`);
  return [...t.dims];
}
