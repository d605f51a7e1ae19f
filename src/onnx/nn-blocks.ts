import { attr } from './attributes.js';
import { DataType } from './proto.js';
import type { GraphBuilder } from './graph-builder.js';
import { expectRank, transpose2d, type Tensor32 } from './weights.js';

/** nn.Linear parameters in PyTorch layout: weight [out, in], bias [out]. */
export interface LinearParams {
  weight: Tensor32;
  bias?: Tensor32;
}

/** nn.LayerNorm parameters over the last axis: weight (gamma) and bias (beta), both [d]. */
export interface LayerNormParams {
  weight: Tensor32;
  bias: Tensor32;
}

/**
 * y = x W^T + b over the last axis of x (any leading dims). W is stored pre-transposed [in, out] so
 * the graph is one MatMul plus one Add, which onnxruntime fuses.
 */
export function linear(b: GraphBuilder, x: string, p: LinearParams, hint = 'linear'): string {
  const [out] = expectRank(p.weight, 2, `${hint}.weight`);
  const wT = transpose2d(p.weight);
  const y = b.op('MatMul', [x, b.initializer(`${hint}.weight_t`, wT.data, wT.dims)], {}, `${hint}_matmul`);
  if (!p.bias) return y;
  if (p.bias.data.length !== out) throw new Error(`${hint}.bias: ${p.bias.data.length} values for ${out} outputs`);
  return b.op('Add', [y, b.initializer(`${hint}.bias`, p.bias.data, [out])], {}, hint);
}

/** LayerNormalization over the last axis (one opset-17 node). PyTorch's default eps is 1e-5. */
export function layerNorm(b: GraphBuilder, x: string, p: LayerNormParams, epsilon = 1e-5, hint = 'layer_norm'): string {
  const [d] = expectRank(p.weight, 1, `${hint}.weight`);
  if (p.bias.data.length !== d) throw new Error(`${hint}.bias: ${p.bias.data.length} values for width ${d}`);
  const scale = b.initializer(`${hint}.weight`, p.weight.data, [d]);
  const shift = b.initializer(`${hint}.bias`, p.bias.data, [d]);
  return b.op('LayerNormalization', [x, scale, shift], { axis: attr.int(-1), epsilon: attr.float(epsilon) }, hint);
}

export type Activation = 'relu' | 'tanh' | 'sigmoid';
const ACTIVATION_OPS: Record<Activation, string> = { relu: 'Relu', tanh: 'Tanh', sigmoid: 'Sigmoid' };

export function activation(b: GraphBuilder, kind: Activation, x: string, hint: string = kind): string {
  const op = ACTIVATION_OPS[kind];
  if (!op) throw new Error(`unsupported activation ${String(kind)}`);
  return b.op(op, [x], {}, hint);
}

export const relu = (b: GraphBuilder, x: string, hint?: string): string => activation(b, 'relu', x, hint);
export const tanh = (b: GraphBuilder, x: string, hint?: string): string => activation(b, 'tanh', x, hint);
export const sigmoid = (b: GraphBuilder, x: string, hint?: string): string => activation(b, 'sigmoid', x, hint);

/**
 * Embedding lookup: rows of `table` ([V, d], a value already in the graph so several blocks can
 * share one table) at int64 `ids` of any shape -> ids.shape + [d].
 */
export function embedding(b: GraphBuilder, table: string, ids: string, hint = 'embedding'): string {
  return b.op('Gather', [table, ids], { axis: attr.int(0) }, hint);
}

/**
 * x [B, L, d] plus learned positions table[0:L] ([P, d], P >= L), with L read from x at run time
 * so the sequence length stays dynamic.
 */
export function addLearnedPositions(b: GraphBuilder, x: string, table: string, hint = 'positions'): string {
  const length = b.op('Shape', [x], { start: attr.int(1), end: attr.int(2) }, `${hint}_len`);
  const rows = b.op('Slice', [table, b.constInt64(`${hint}_start`, [0]), length, b.constInt64(`${hint}_axis`, [0])], {}, `${hint}_rows`);
  return b.op('Add', [x, rows], {}, hint);
}

/**
 * Masked mean over axis 1: x [B, L, d], validMask float [B, L] (1 = counts, 0 = padding) -> [B, d].
 * Weights are mask / (count + 1e-12), the seed's formulation: an all-padding row gives zeros, not NaN.
 */
export function maskedMean(b: GraphBuilder, x: string, validMask: string, hint = 'masked_mean'): string {
  const axis1 = b.constInt64(`${hint}_axis1`, [1]);
  const count = b.op('ReduceSum', [validMask, axis1], { keepdims: attr.int(1) }, `${hint}_count`);
  const denom = b.op('Add', [count, b.constFloat(`${hint}_eps`, 1e-12)], {}, `${hint}_denom`);
  const weights = b.op('Div', [validMask, denom], {}, `${hint}_weights`);
  const weights3 = b.op('Unsqueeze', [weights, b.constInt64(`${hint}_axis2`, [2])], {}, `${hint}_weights3`);
  const weighted = b.op('Mul', [x, weights3], {}, `${hint}_weighted`);
  return b.op('ReduceSum', [weighted, axis1], { keepdims: attr.int(0) }, hint);
}

/** Bool padding mask (true = padding, PyTorch's key_padding_mask) from token ids: ids == padId. */
export function paddingMaskFromIds(b: GraphBuilder, ids: string, padId = 0, hint = 'padding_mask'): string {
  return b.op('Equal', [ids, b.initializer(`${hint}_pad_id`, BigInt64Array.of(BigInt(padId)), [])], {}, hint);
}

/** float valid mask (1 = real token) from a bool padding mask. */
export function validMaskFromPadding(b: GraphBuilder, paddingMask: string, hint = 'valid_mask'): string {
  const valid = b.op('Not', [paddingMask], {}, `${hint}_bool`);
  return b.op('Cast', [valid], { to: attr.int(DataType.float32) }, hint);
}
