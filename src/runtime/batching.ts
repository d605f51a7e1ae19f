import { allocate, elementCount, fillWith, type TensorData, type TensorMap, type TensorValue } from './tensor-value.js';

/**
 * How one input may differ between requests merged into a batch: the listed dims (never 0, the
 * batch dim) are padded with `value` up to the largest size among the merged requests. Token ids
 * [B, T] use `{ dims: [1], value: 0 }`; a hierarchical recipe [B, L, T] uses dims [1, 2].
 * Inputs without a rule must match exactly in every dim but the first.
 */
export interface PaddingRule {
  dims: readonly number[];
  value: number | bigint;
}

export type PaddingRules = Readonly<Record<string, PaddingRule>>;

/** Leading (batch) size shared by every input of one request. */
export function batchRows(inputs: TensorMap): number {
  const names = Object.keys(inputs);
  if (names.length === 0) throw new TypeError('a request needs at least one input');
  let rows = -1;
  for (const name of names) {
    const dims = inputs[name].dims;
    if (dims.length === 0) throw new TypeError(`input ${name} is a scalar: micro-batching needs a batch dim first`);
    if (rows === -1) rows = dims[0];
    else if (dims[0] !== rows) throw new TypeError(`inputs disagree on the batch size: ${names[0]} has ${rows}, ${name} has ${dims[0]}`);
  }
  if (rows < 1) throw new TypeError('a request needs a batch size of at least 1');
  return rows;
}

/**
 * Whether two requests can share one session run: same input names and types, same rank, and equal
 * sizes in every dim except the batch dim and the dims their padding rule lets differ.
 */
export function canMerge(a: TensorMap, b: TensorMap, padding: PaddingRules): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (const name of names) {
    const x = a[name];
    const y = b[name];
    if (!y || x.type !== y.type || x.dims.length !== y.dims.length) return false;
    const padded = padding[name]?.dims ?? [];
    for (let d = 1; d < x.dims.length; d++) {
      if (x.dims[d] !== y.dims[d] && !padded.includes(d)) return false;
    }
  }
  return true;
}

/** Merge requests along dim 0, padding ruled dims to the batch maximum. */
export function mergeInputs(requests: readonly TensorMap[], padding: PaddingRules): TensorMap {
  if (requests.length === 1) return requests[0];
  const merged: TensorMap = {};
  for (const name of Object.keys(requests[0])) {
    const parts = requests.map((r) => r[name]);
    merged[name] = concatRows(parts, padding[name]);
  }
  return merged;
}

function concatRows(parts: readonly TensorValue[], rule: PaddingRule | undefined): TensorValue {
  const rank = parts[0].dims.length;
  const dims = parts[0].dims.slice();
  dims[0] = 0;
  for (const p of parts) {
    dims[0] += p.dims[0];
    for (let d = 1; d < rank; d++) dims[d] = Math.max(dims[d], p.dims[d]);
  }
  const data = allocate(parts[0].type, elementCount(dims));
  const needsPadding = parts.some((p) => p.dims.some((size, d) => d > 0 && size !== dims[d]));
  if (needsPadding && rule && rule.value !== 0 && rule.value !== 0n) fillWith(data, rule.value);
  let rowOffset = 0;
  for (const p of parts) {
    if (!needsPadding) data.set(p.data as never, rowOffset * (data.length / dims[0]));
    else copyInto(p, data, dims, rowOffset);
    rowOffset += p.dims[0];
  }
  return { type: parts[0].type, dims, data };
}

/**
 * Copy `src` into the block of `dst` (dims `dstDims`) starting at batch row `rowOffset`. The innermost
 * dim is contiguous in both, so the copy goes run by run over every index of the outer dims.
 */
function copyInto(src: TensorValue, dst: TensorData, dstDims: readonly number[], rowOffset: number): void {
  const rank = src.dims.length;
  const dstStrides = strides(dstDims);
  const srcData = src.data;
  const inner = rank === 1 ? 1 : src.dims[rank - 1];
  const outerDims = rank === 1 ? [src.dims[0]] : src.dims.slice(0, rank - 1);
  const outerCount = elementCount(outerDims);
  const index = new Array<number>(outerDims.length).fill(0);
  for (let run = 0; run < outerCount; run++) {
    let dstStart = rowOffset * dstStrides[0];
    for (let d = 0; d < outerDims.length; d++) dstStart += index[d] * dstStrides[d];
    const srcStart = run * inner;
    dst.set(srcData.subarray(srcStart, srcStart + inner) as never, dstStart);
    for (let d = outerDims.length - 1; d >= 0; d--) {
      if (++index[d] < outerDims[d]) break;
      index[d] = 0;
    }
  }
}

function strides(dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length).fill(1);
  for (let d = dims.length - 2; d >= 0; d--) out[d] = out[d + 1] * dims[d + 1];
  return out;
}

/**
 * Split a batch's outputs back per request along dim 0. Outputs keep the batch's padded sizes in other
 * dims (a per-token output comes back at the batch's longest T); pooled outputs are unaffected.
 */
export function splitOutputs(outputs: TensorMap, rows: readonly number[]): TensorMap[] {
  const total = rows.reduce((a, b) => a + b, 0);
  const result: TensorMap[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims.length === 0 || t.dims[0] !== total) {
      throw new Error(`output ${name} has dims [${t.dims.join(',')}], not a leading batch dim of ${total}: this model cannot be micro-batched (use maxBatch 1)`);
    }
    const rowSize = t.dims[0] === 0 ? 0 : t.data.length / t.dims[0];
    let offset = 0;
    rows.forEach((n, i) => {
      const dims = t.dims.slice();
      dims[0] = n;
      // slice, not subarray: each caller owns its own buffer.
      result[i][name] = { type: t.type, dims, data: t.data.slice(offset * rowSize, (offset + n) * rowSize) };
      offset += n;
    });
  }
  return result;
}
